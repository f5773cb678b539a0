"""Which accelerator: KVM only when a probe guest really ran under it, else TCG, and why.

/dev/kvm existing proves nothing (nested virtualisation: QEMU dies with a KVM internal
error), so "KVM works" means a 512-byte guest ran to its exit port under it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import HarnessError
from ..host.cache import cache_root
from ..host.kvmaccess import host_denial

QEMU = os.environ.get("NSHARNESS_QEMU", "qemu-system-x86_64")

# A 512-byte boot sector: `mov dx,0xf4; mov al,0x10; out dx,al; hlt` then the 0x55AA
# signature. With isa-debug-exit, QEMU exits with (0x10 << 1) | 1 = 33 once the guest
# really executed code, which is what "KVM works" means (merely opening /dev/kvm is not).
_PROBE_SECTOR = bytes.fromhex("baf400b010eef4ebfd").ljust(510, b"\0") + b"\x55\xaa"
_PROBE_OK = 33


@dataclass(frozen=True)
class Accel:
    name: str  # "kvm" or "tcg"
    reason: str

    def qemu_args(self) -> list[str]:
        if self.name == "kvm":
            return ["-accel", "kvm", "-cpu", "host"]
        return ["-accel", "tcg,thread=multi,tb-size=64", "-cpu", "max"]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_kvm(timeout: float = 5.0) -> tuple[bool, str]:
    """Run a tiny guest under KVM; return (works, why)."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        denial = host_denial()
        if denial is None:  # the mode bits allow it: an ACL or a security module says no
            return False, "/dev/kvm cannot be opened by this user (an ACL or LSM denies it)"
        return False, f"{denial.reason}; fix: {denial.fix}"
    with tempfile.NamedTemporaryFile(suffix=".img") as img:
        img.write(_PROBE_SECTOR)
        img.flush()
        cmd = [
            QEMU,
            "-accel",
            "kvm",
            "-cpu",
            "host",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-m",
            "16",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=4",
            "-drive",
            f"file={img.name},format=raw,if=floppy",
            "-boot",
            "a",
        ]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"KVM probe guest did not finish within {timeout:.0f}s"
        except FileNotFoundError:
            return False, f"{QEMU} not found"
    if res.returncode == _PROBE_OK:
        return True, "KVM probe guest ran and exited"
    lines = [ln for ln in res.stderr.strip().splitlines() if "warning" not in ln]
    why = lines[-1] if lines else f"exit {res.returncode}"
    return False, f"KVM probe failed (exit {res.returncode}): {why[:160]}"


ACCELS = ("auto", "kvm", "tcg")


def choose_accel(requested: str = "auto") -> Accel:
    """auto: KVM when a probe guest really runs under it, else TCG; kvm: KVM or an error."""
    if requested not in ACCELS:
        raise HarnessError(f"--accel must be auto, kvm or tcg, not '{requested}'")
    if requested == "tcg":
        return Accel("tcg", "requested with --accel tcg")
    cache = cache_root() / "kvm-probe.json"
    # Per boot, and per access: joining the kvm group (or a chmod) must not be answered
    # with a stale "not in the kvm group".
    try:
        st = os.stat("/dev/kvm")
        node = f"{st.st_mode:o}:{st.st_uid}:{st.st_gid}"
    except OSError:
        node = "absent"
    groups = ",".join(str(g) for g in sorted({os.getgid(), *os.getgroups()}))
    key = f"{_boot_id()}:{QEMU}:{os.getuid()}:{groups}:{node}"
    works, why = None, ""
    try:
        data = json.loads(cache.read_text())
        if data.get("key") == key:
            works, why = data["works"], data["why"]
    except (OSError, ValueError, KeyError):
        pass
    if works is None:
        works, why = probe_kvm()
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"key": key, "works": works, "why": why}))
    if works:
        return Accel("kvm", why)
    if requested == "kvm":
        raise HarnessError(f"--accel kvm, but KVM does not work here: {why}")
    return Accel("tcg", f"KVM unusable, fell back to TCG: {why}")
