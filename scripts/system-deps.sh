#!/usr/bin/env bash
# Install the Debian packages the tests use, when a program or file is missing.
# Needs root (CI runs as root); elsewhere it only says what is missing.
set -euo pipefail
# program -> Debian package
declare -A NEEDED=(
    [openssl]=openssl
    [baresip]=baresip-core
    [sipp]=sip-tester
    [tshark]=tshark
    [kamailio]=kamailio
    [chromium]=chromium
    [chromedriver]=chromium-driver
)
# file (a glob) -> Debian package, for what is not a program (e.g. Kamailio modules)
declare -A NEEDED_FILES=(
    ["/usr/lib/*/kamailio/modules/tls.so"]=kamailio-tls-modules
)
missing=()
for program in "${!NEEDED[@]}"; do
    command -v "$program" >/dev/null 2>&1 || missing+=("${NEEDED[$program]}")
done
for pattern in "${!NEEDED_FILES[@]}"; do
    compgen -G "$pattern" >/dev/null || missing+=("${NEEDED_FILES[$pattern]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "system-deps: missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
