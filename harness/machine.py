"""A Machine: one booted kernel you can talk to (the NixOS test driver's idea, for kernels).

It ties the pieces together: kernel + image + keys -> boot files -> QEMU -> SSH, logs the
boot's phases with their times (logger `nsharness.vm.<label>`), and records what a report
needs to say about the boot (accel and why, phase times, console).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import bootfiles
from .accel import Accel
from .errors import BootError, CommandFailed, GuestDied, HarnessError
from .image import Image
from .kernel import Kernel
from .keys import Keys
from .options import DEFAULT_BOOT_TIMEOUT, DEFAULT_MEMORY_MB
from .qemu import Qemu, QemuConfig
from .ssh import Result, SSHSession

STAGE1 = "nsharness: stage1"
READY = "nsharness: sshd started"
BASE_CMDLINE = "console=ttyS0 panic=-1 rdinit=/init 8250.nr_uarts=1 tsc=reliable no_timer_check"
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


@dataclass
class BootRecord:
    """What a report says about one boot."""

    release: str
    accel: str
    accel_reason: str
    boot_s: float  # launch -> SSH server listening
    ssh_s: float  # launch -> first command answered
    console_log: str
    cmdline: str
    pid: int | None
    boots: int = 1
    phases: dict[str, float] = field(default_factory=dict)


def cmdline(opts: MachineOptions) -> str:
    fast = FAST_BOOT if opts.fast_boot else ""
    return f"{BASE_CMDLINE} {fast} {opts.cmdline_extra}".strip()


class Machine:
    """A booted guest: run commands, move files, read its console, stop it."""

    def __init__(self, kernel: Kernel, image: Image, keys: Keys, opts: MachineOptions):
        self.kernel, self.image, self.keys, self.opts = kernel, image, keys, opts
        self.label = opts.label or kernel.release
        self.log = logging.getLogger(f"nsharness.vm.{self.label}")
        self.workdir = Path(tempfile.mkdtemp(prefix="nsh-vm-"))
        self.qemu: Qemu | None = None
        self.ssh: SSHSession | None = None
        self.record: BootRecord | None = None
        self.boots = 0
        self._agent = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Machine:
        files = bootfiles.ensure(self.kernel)
        initrd = bootfiles.initrd_with_keys(files, self.keys, self.workdir / "initrd.cpio")
        line = cmdline(self.opts)
        cfg = QemuConfig(
            kernel=files.kernel,
            initrd=initrd,
            append=line,
            root_disk=self.image.path,
            modules_disk=files.modules_disk,
            accel=self.opts.accel,
            memory_mb=self.opts.memory_mb,
            smp=self.opts.smp,
        )
        self.boots += 1
        console_dir = self.opts.console_dir or self.workdir
        console_dir.mkdir(parents=True, exist_ok=True)
        name = f"console-{self.label}-{self.boots}-{self.workdir.name[7:]}.log"
        self.qemu = Qemu(cfg, self.workdir, console_dir / name.replace("/", "_"))
        self.log.info("booting %s (%s, boot %d)", self.kernel.identity, cfg.accel.name, self.boots)
        self.qemu.start()
        phases: dict[str, float] = {}
        try:
            phases["init"] = self.qemu.wait_for(STAGE1, self.opts.boot_timeout)
            self.log.info("kernel reached the initrd's init at %.2f s", phases["init"])
            phases["sshd"] = self.qemu.wait_for(READY, self.opts.boot_timeout)
            self.log.info("guest SSH server listening at %.2f s", phases["sshd"])
            remaining = max(5.0, self.opts.boot_timeout - phases["sshd"])
            self.ssh = SSHSession.connect(
                self.qemu.ssh_port,
                host_key=self.keys.host_pkey_public(),
                client_key=self.keys.client.pkey(),
                timeout=remaining,
                alive=self.qemu.alive,
                log=self.log,
            )
            phases["ssh"] = self.qemu.elapsed()
            self.log.info("SSH session up (host key pinned) at %.2f s", phases["ssh"])
            self.ssh.run("true", timeout=30, check=True)
        except BaseException as e:
            tail = self.qemu.console.evidence()
            self.stop()
            if isinstance(e, HarnessError) and not isinstance(e, BootError):
                raise BootError(f"{e}\n{tail}") from e
            raise
        phases["first_command"] = self.qemu.elapsed()
        self.log.info("first guest command answered at %.2f s", phases["first_command"])
        self.record = BootRecord(
            release=self.kernel.release,
            accel=self.opts.accel.name,
            accel_reason=self.opts.accel.reason,
            boot_s=round(phases["sshd"], 3),
            ssh_s=round(phases["first_command"], 3),
            console_log=str(self.qemu.console.path),
            cmdline=line,
            pid=self.qemu.pid,
            boots=self.boots,
            phases={k: round(v, 3) for k, v in phases.items()},
        )
        return self

    @property
    def agent(self):
        """The guest agent of this boot, started on first use (see harness/agent.py)."""
        if self._agent is None:
            from .agent import Agent

            self._agent = Agent(self)
            if self.record is not None:
                self.record.phases["agent"] = round(self.qemu.elapsed(), 3)
        return self._agent

    def alive(self) -> bool:
        return self.qemu is not None and self.qemu.alive() and self.qemu.console.crash() is None

    def unusable_reason(self) -> str | None:
        """Why this guest cannot serve the next test (dead, no SSH, agent out of step)."""
        if not self.alive():
            return self.dead_reason() or "not running"
        if self.ssh is None or not self.ssh.transport.is_active():
            return "SSH session lost"
        if self._agent is not None and self._agent.broken:
            return f"guest agent unusable: {self._agent.broken}"
        return None

    def usable(self) -> bool:
        return self.unusable_reason() is None

    def stop(self) -> None:
        if self._agent is not None:
            self._agent.close()
            self._agent = None
        if self.ssh is not None:
            try:
                self.ssh.close()
            except Exception:  # noqa: BLE001 - the guest may already be gone
                pass
            self.ssh = None
        if self.qemu is not None:
            self.qemu.stop()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Machine:
        return self.start() if self.qemu is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------ use
    def _session(self) -> SSHSession:
        if self.ssh is None or self.qemu is None:
            raise GuestDied(f"guest {self.label} is not running")
        return self.ssh

    def run(self, cmd: str, *, timeout: float = 60.0, check: bool = False, input=None) -> Result:  # noqa: A002
        """Run a shell command in the guest. A guest that died meanwhile raises GuestDied."""
        try:
            return self._session().run(cmd, timeout=timeout, check=check, input=input)
        except CommandFailed:
            raise
        except HarnessError:
            self._raise_if_dead()
            raise

    def succeed(self, cmd: str, timeout: float = 60.0) -> str:
        """Run and require exit 0; return stdout (NixOS driver naming)."""
        return self.run(cmd, timeout=timeout, check=True).stdout

    def put(self, local: Path | str, remote: str, mode: int | None = None) -> None:
        self._session().put(local, remote, mode)

    def get(self, remote: str, local: Path | str) -> None:
        self._session().get(remote, local)

    def console_tail(self, n: int = 30) -> str:
        """The console's evidence: from a crash's first line if it crashed, else the tail."""
        return self.qemu.console.evidence(n) if self.qemu else ""

    def dead_reason(self) -> str | None:
        """Why the guest is gone (a panic's headline, QEMU's exit), or None if it runs."""
        if self.qemu is None:
            return "not started"
        crash = self.qemu.console.crash()
        if crash:
            return crash
        if not self.qemu.alive():
            return f"QEMU exited with code {self.qemu.proc.returncode}"
        return None

    def _raise_if_dead(self, grace: float = 3.0) -> None:
        """Raise GuestDied if the guest crashed; a dying QEMU gets *grace* seconds to exit."""
        if self.qemu is None:
            return
        deadline = time.monotonic() + grace
        while self.qemu.alive() and not self.qemu.console.crash() and time.monotonic() < deadline:
            time.sleep(0.05)
        why = self.dead_reason()
        if why:
            raise GuestDied(f"guest {self.label} died: {why}\n{self.console_tail()}")
