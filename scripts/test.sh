#!/usr/bin/env bash
# Test suite: install bayesuq with its test extras, lint with ruff, run pytest (slow tests
# excluded; pass `-m slow` to run them). Extra arguments go to pytest.
BAYESUQ_EXTRAS=test,docs
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
