"""How a guest is started (MachineOptions, the kernel command line) and what one start
is recorded as (BootRecord): the values that cross from the session to a Machine and
from a Machine to the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .accel import Accel

DEFAULT_BOOT_TIMEOUT = 120.0
DEFAULT_MEMORY_MB = 256

BASE_CMDLINE = (
    "console=ttyS0 panic=-1 rdinit=/init 8250.nr_uarts=1 tsc=reliable no_timer_check"
    " dummy.numdummies=0"  # a built-in dummy driver would otherwise add a dummy0 at boot
)
#: Boot-time savings under TCG that leave namespace behaviour alone: skip the crypto
#: self-tests (~0.3 s on 6.1), the system certificate list and kprobe-trace setup, and ACPI
#: interrupt routing (acpi=noirq): the virtio devices use MSI-X, and evaluating the _PRT
#: tables in the AML interpreter made 6.1's virtio_pci probe take ~0.9 s instead of ~0.05 s.
FAST_BOOT = (
    "cryptomgr.notests initcall_blacklist=load_system_certificate_list,init_kprobe_trace acpi=noirq"
)


@dataclass
class MachineOptions:
    accel: Accel
    memory_mb: int = DEFAULT_MEMORY_MB
    smp: int = 1
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    cmdline_extra: str = ""
    fast_boot: bool = True
    console_dir: Path | None = None  # keep console logs here (else in the VM's private dir)
    label: str | None = None  # how logs and file names call this kernel (default: release)
    snapshots: bool = True  # restore a saved ready guest instead of booting, when one fits


@dataclass
class BootRecord:
    """What a report says about one start of the guest (a cold boot or a restore)."""

    release: str
    accel: str
    accel_reason: str
    mode: str  # "cold" | "restored"
    ready_s: float  # launch -> first guest op answered
    console_log: str
    cmdline: str
    pid: int | None
    boots: int = 1
    restores: int = 0
    phases: dict[str, float] = field(default_factory=dict)
    snapshot: str | None = None
    snapshot_note: str | None = None  # why no snapshot was used, when none was


def cmdline(opts: MachineOptions) -> str:
    fast = FAST_BOOT if opts.fast_boot else ""
    return f"{BASE_CMDLINE} {fast} {opts.cmdline_extra}".strip()
