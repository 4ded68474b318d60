# Shared set-up for the README's commands: a virtual environment in .venv with bayesuq
# installed from pyproject.toml (plus the extras named in $BAYESUQ_EXTRAS).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${BAYESUQ_EXTRAS:+[$BAYESUQ_EXTRAS]}"
