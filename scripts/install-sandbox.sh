#!/usr/bin/env bash
# Install what the code interpreter's sandbox runs on: bubblewrap (Linux namespaces), setpriv
# (util-linux: drops to an unprivileged uid inside the sandbox) and the system Python with the
# libraries model-written code reaches for first — numpy, pandas, matplotlib — that it runs
# under (the sandbox never sees the server's venv).
# Idempotent: does nothing when everything is already there.
set -euo pipefail

have_all() {
    command -v bwrap >/dev/null && command -v setpriv >/dev/null \
        && /usr/bin/python3 -c 'import numpy, pandas, matplotlib' >/dev/null 2>&1
}

if have_all; then
    echo "sandbox: already installed ($(bwrap --version))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends bubblewrap util-linux python3 \
    python3-numpy python3-pandas python3-matplotlib >/dev/null

have_all || { echo "sandbox: bwrap, setpriv or the Python libraries still missing" >&2; exit 1; }
echo "sandbox: installed ($(bwrap --version))"
