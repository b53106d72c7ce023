#!/usr/bin/env bash
# Set up everything the tests need and run them (lint first, then pytest).
# Extra arguments go to pytest, e.g. scripts/test.sh -k torture
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
bash scripts/setup.sh test,bench,app
.venv/bin/ruff check sizing tests benchmarks app.py
exec .venv/bin/python -m pytest "$@"
