#!/usr/bin/env bash
# Install the PostgreSQL server binaries the test suite starts a throwaway cluster from.
# Idempotent: does nothing when initdb/postgres are already there.
set -euo pipefail

have_binaries() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null \
        && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

if have_binaries; then
    echo "postgresql: already installed ($(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' '))"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# The Debian package also creates and starts a default cluster; the tests never use it.
$SUDO apt-get install -y --no-install-recommends postgresql

have_binaries || { echo "postgresql: binaries still missing after install" >&2; exit 1; }
echo "postgresql: installed"
