#!/usr/bin/env bash
# Install the Debian packages the tests use, when a program is missing.
# Needs root (CI runs as root); elsewhere it only says what is missing.
set -euo pipefail
# program -> Debian package
declare -A NEEDED=(
    [openssl]=openssl
    [sipp]=sip-tester
)
missing=()
for program in "${!NEEDED[@]}"; do
    command -v "$program" >/dev/null 2>&1 || missing+=("${NEEDED[$program]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
