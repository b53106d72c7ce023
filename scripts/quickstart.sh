#!/usr/bin/env bash
# Set up .venv and run the main job on the bundled example: parse a captured
# basic call and count its signalling bytes on the wire over UDP, TCP and TLS.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/sizing inspect data/examples/basic-call.sip
