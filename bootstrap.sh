#!/usr/bin/env bash
# Set up nsharness on a fresh Debian/Ubuntu machine, then run what you ask for.
#   ./bootstrap.sh run     set up, then run the scenario suite on the default kernel
#   ./bootstrap.sh tox     set up, then run the test suite (tox: lint, unit, vm)
#   ./bootstrap.sh         set up only
# It installs the Debian packages (QEMU, mmdebstrap, busybox-static, uidmap, ...), a
# virtualenv with the Python packages in .venv, and tox. Kernels and the guest image are
# fetched and built on first use and cached under ~/.cache/nsharness.
# Run it as root, or as yourself: then sudo is used for apt-get and for nothing else, and
# `nsharness doctor` must find what an ordinary user needs (subordinate ids, user
# namespaces) before it reports ready.
set -euo pipefail
cd "$(dirname "$0")"
PKGS="qemu-system-x86 qemu-utils mmdebstrap uidmap busybox-static zstd lz4 e2fsprogs kmod cpio
      python3 python3-venv python3-pip ca-certificates chromium git
      build-essential flex bison bc libelf-dev libssl-dev"
if [ "$(id -u)" -eq 0 ]; then
  apt_get() { DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
else
  apt_get() {
    sudo apt-get "$@" && return
    echo "bootstrap: sudo apt-get failed; as root, run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
  }
fi
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ] || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
    echo "bootstrap: packages are missing and there is no sudo; as root, run:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
    exit 1
  fi
  echo "bootstrap: installing Debian packages:$missing" >&2
  apt_get update -qq
  [ -z "$missing" ] || apt_get install -y -qq --no-install-recommends $missing >/dev/null
fi
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  $PY -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'
export PATH="$PWD/.venv/bin:$PATH"
if [ "$(id -u)" -ne 0 ] && ! report=$(nsharness doctor 2>&1); then
  echo "$report" | awk '/^MISSING/ {print; m=1; next} m && $1 == "fix:" {print} {m=0}' >&2
  echo "bootstrap: $(id -un) cannot build the guest image yet: run the fix commands above" >&2
  exit 1
fi
case "${1:-}" in
  run) shift; exec nsharness run "$@" ;;
  tox) shift; exec tox "$@" ;;
  "") echo "bootstrap: ready. Activate with: . .venv/bin/activate" >&2 ;;
  *) exec "$@" ;;
esac
