#!/usr/bin/env bash
# Execute the notebooks and store them with their outputs (see scripts/refresh_notebooks.py).
# Usage: scripts/refresh-notebooks.sh [NOTEBOOK ...]
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python scripts/refresh_notebooks.py "$@"
