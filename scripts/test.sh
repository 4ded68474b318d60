#!/usr/bin/env bash
# Test suite: install bayesuq with its test extras, lint with ruff, run pytest (slow tests
# excluded; pass `-m slow` to run them). Extra arguments go to pytest. Tests run in
# $BAYESUQ_TEST_WORKERS processes (default 2; 0 runs them in this process), each test module
# whole in one of them, so that module fixtures (the docs build) are built once.
BAYESUQ_EXTRAS=test,docs
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -n "${BAYESUQ_TEST_WORKERS:-2}" --dist loadscope "$@"
