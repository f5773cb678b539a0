"""What this host lacks for nsharness, and the exact command that installs it."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass

#: Debian packages the harness needs on the host: (command to look for, package).
HOST_TOOLS: tuple[tuple[str, str], ...] = (
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("mmdebstrap", "mmdebstrap"),
    ("busybox", "busybox-static"),
    ("zstd", "zstd"),
    ("lz4", "lz4"),
    ("mkfs.ext4", "e2fsprogs"),
    ("depmod", "kmod"),
    ("cpio", "cpio"),
    ("apt-get", "apt"),
    ("dpkg-deb", "dpkg"),
)
PY_MODULES = ("paramiko", "pyroute2", "filelock", "rich", "qemu.qmp", "jsonschema", "pytest")


@dataclass(frozen=True)
class Finding:
    what: str
    ok: bool
    detail: str
    fix: str = ""


def _static_busybox() -> bool:
    path = shutil.which("busybox")
    if not path:
        return False
    with open(path, "rb") as f:
        head = f.read(4096)
    return b"ld-linux" not in head and b"/lib64/ld" not in head


def check() -> list[Finding]:
    out: list[Finding] = []
    missing_pkgs = []
    for cmd, pkg in HOST_TOOLS:
        found = shutil.which(cmd) or (cmd == "busybox" and os.path.exists("/bin/busybox"))
        ok = bool(found) and (cmd != "busybox" or _static_busybox())
        if not ok:
            missing_pkgs.append(pkg)
        out.append(Finding(cmd, ok, str(found or "missing"), f"apt-get install -y {pkg}"))
    for mod in PY_MODULES:
        ok = importlib.util.find_spec(mod) is not None
        out.append(
            Finding(
                f"python: {mod}",
                ok,
                "importable" if ok else "missing",
                "pip install -e ." if not ok else "",
            )
        )
    from .accel import probe_kvm

    if shutil.which("qemu-system-x86_64"):
        works, why = probe_kvm()
        out.append(
            Finding("kvm", True, ("usable: " if works else "not usable (TCG will be used): ") + why)
        )
    out.append(
        Finding(
            "root (image build)",
            os.geteuid() == 0,
            "yes" if os.geteuid() == 0 else "no: building the guest image needs root",
            "sudo nsharness image build",
        )
    )
    if missing_pkgs:
        out.append(
            Finding(
                "install",
                False,
                "missing Debian packages",
                "sudo apt-get update && sudo apt-get install -y --no-install-recommends "
                + " ".join(dict.fromkeys(missing_pkgs)),
            )
        )
    return out
