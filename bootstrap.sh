#!/usr/bin/env bash
# Set up nsharness on a fresh Debian/Ubuntu machine, then run what you ask for.
#   ./bootstrap.sh run     set up, then run the scenario suite on the default kernel
#   ./bootstrap.sh tox     set up, then run the test suite (tox: lint, unit, vm)
#   ./bootstrap.sh         set up only
# It installs the Debian packages (QEMU, mmdebstrap, busybox-static, ...), a virtualenv
# with the Python packages in .venv, and tox. Kernels and the guest image are fetched and
# built on first use and cached under ~/.cache/nsharness.
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS="qemu-system-x86 qemu-utils mmdebstrap busybox-static zstd lz4 e2fsprogs kmod cpio
      python3 python3-venv python3-pip ca-certificates chromium git
      build-essential flex bison bc libelf-dev libssl-dev"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  echo "bootstrap: installing Debian packages:$missing" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# apt lists must exist for 'debian:' kernel specs
ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1 || $SUDO apt-get update -qq
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  $PY -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'
export PATH="$PWD/.venv/bin:$PATH"
case "${1:-}" in
  run) shift; exec nsharness run "$@" ;;
  tox) shift; exec tox "$@" ;;
  "") echo "bootstrap: ready. Activate with: . .venv/bin/activate" >&2 ;;
  *) exec "$@" ;;
esac
