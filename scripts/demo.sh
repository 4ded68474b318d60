#!/usr/bin/env bash
# Main job: install bayesuq, fit the bundled eight-schools example with NUTS, write
# results/posterior.nc, results/summary.csv and results/diagnostics.txt.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
exec .venv/bin/bayesuq run eight_schools --out results "$@"
