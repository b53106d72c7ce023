#!/usr/bin/env bash
# Set up .venv and run the main job on the bundled example: size the four sites of
# data/sites.csv (closed form, then simulation on Dask) and write report/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/sizing batch data/sites.csv --out report
echo "open report/report.html (also report/summary.csv and report/report.xlsx)"
