"""QEMU: choosing the accelerator, launching a guest, watching its console, stopping it.

Every QEMU we start is registered here and killed (by PID, its own process group) on
normal exit, on an exception, on SIGINT/SIGTERM, and by the kernel itself if our process
dies first (PR_SET_PDEATHSIG), so no run leaves a QEMU spinning behind it.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .cache import cache_root
from .console import ConsoleLog
from .errors import BootError, HarnessError
from .kvmaccess import host_denial

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


def choose_accel(requested: str = "auto") -> Accel:
    """auto: KVM when a probe guest really runs under it, else TCG; kvm: KVM or an error."""
    if requested not in ("auto", "kvm", "tcg"):
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


def qemu_version() -> str:
    try:
        out = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return "not installed"
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else out.strip()


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (launch retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------- process registry

_live: dict[int, subprocess.Popen] = {}
_live_lock = threading.Lock()
_handlers_installed = False


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # our own group: QEMU was started in it
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def kill_all() -> None:
    """Kill every QEMU this process started and has not stopped yet."""
    with _live_lock:
        procs = list(_live.values())
        _live.clear()
    for p in procs:
        _kill(p)


def _on_signal(signum, frame):  # noqa: ARG001
    """SIGTERM: kill our QEMUs, then unwind like Ctrl-C so reports are still written."""
    kill_all()
    signal.signal(signum, signal.SIG_DFL)
    raise KeyboardInterrupt


def _install_handlers() -> None:
    global _handlers_installed
    if _handlers_installed:
        return
    _handlers_installed = True
    atexit.register(kill_all)
    if threading.current_thread() is threading.main_thread():
        prev = signal.getsignal(signal.SIGTERM)
        if prev in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_signal)


def _child_setup() -> None:
    os.setpgid(0, 0)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the parent
    except OSError:
        pass


# ----------------------------------------------------------------- one QEMU


def base_args(accel: Accel, memory_mb: int = 256, smp: int = 1) -> list[str]:
    """The machine every boot uses, harness guest and benchmark floor alike."""
    return [
        QEMU,
        *accel.qemu_args(),
        "-machine",
        "pc",
        "-m",
        str(memory_mb),
        "-smp",
        str(smp),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
    ]


@dataclass
class QemuConfig:
    kernel: Path
    initrd: Path
    append: str
    root_disk: Path
    modules_disk: Path | None
    accel: Accel
    memory_mb: int = 256
    smp: int = 1
    extra: list[str] = field(default_factory=list)


class Qemu:
    """One running QEMU with its console log, QMP socket and SSH port forward."""

    def __init__(self, cfg: QemuConfig, workdir: Path, console_path: Path):
        self.cfg = cfg
        self.workdir = workdir
        self.console = ConsoleLog(console_path)
        self.qmp_path = workdir / "qmp.sock"
        self.ssh_port = 0
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def command(self, port: int) -> list[str]:
        c = self.cfg
        cmd = [
            *base_args(c.accel, c.memory_mb, c.smp),
            "-kernel",
            str(c.kernel),
            "-initrd",
            str(c.initrd),
            "-append",
            c.append,
            "-chardev",
            f"file,id=con,path={self.console.path}",
            "-serial",
            "chardev:con",
            "-qmp",
            f"unix:{self.qmp_path},server=on,wait=off",
            # restrict=on: the guest reaches nothing outside; the forward binds loopback only.
            "-netdev",
            f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-10.0.2.15:22",
            "-device",
            "virtio-net-pci,netdev=n0,romfile=,disable-legacy=on",
            "-drive",
            f"file={c.root_disk},format=raw,if=none,id=root,snapshot=on",
            "-device",
            "virtio-blk-pci,drive=root,disable-legacy=on",
        ]
        if c.modules_disk:
            cmd += [
                "-drive",
                f"file={c.modules_disk},format=raw,if=none,id=mods,readonly=on",
                "-device",
                "virtio-blk-pci,drive=mods,disable-legacy=on",
            ]
        return cmd + c.extra

    def start(self) -> None:
        _install_handlers()
        for _attempt in range(5):
            port = free_port()
            self.console.path.write_bytes(b"")
            err = (self.workdir / "qemu.stderr").open("w+")
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                preexec_fn=_child_setup,
                env={**os.environ, "TMPDIR": str(self.workdir)},
            )
            with _live_lock:
                _live[self.proc.pid] = self.proc
            time.sleep(0.05)
            if self.proc.poll() is None or "hostfwd" not in self.stderr():
                self.ssh_port = port
                return
            self._forget()  # port raced away: try another
        raise BootError(f"QEMU could not bind an SSH forward: {self.stderr()[-300:]}")

    def stderr(self) -> str:
        try:
            return (self.workdir / "qemu.stderr").read_text(errors="replace")
        except OSError:
            return ""

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_for(self, pattern: str, timeout: float) -> float:
        """Wait until the console shows *pattern*; fail fast on panic or QEMU exit."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            text = self.console.text()
            if rx.search(text):
                return time.monotonic() - self.started_at
            crash = self.console.crash()
            if crash:
                raise BootError(f"guest crashed during boot: {crash}\n{self.console.evidence()}")
            if not self.alive():
                raise BootError(
                    f"QEMU exited (code {self.proc.returncode}) during boot: "
                    f"{self.stderr().strip()[-300:]}\n{self.console.evidence()}"
                )
            if time.monotonic() > deadline:
                ev = self.console.evidence()
                raise BootError(f"guest did not reach '{pattern}' within {timeout:.0f}s\n{ev}")
            time.sleep(0.02)

    def qmp(self, command: str) -> None:
        """Send one QMP command (best effort: used to quit cleanly)."""
        from qemu.qmp.legacy import QEMUMonitorProtocol

        mon = QEMUMonitorProtocol(str(self.qmp_path))
        try:
            mon.connect(negotiate=True)
            mon.cmd(command)
        finally:
            mon.close()

    def stop(self, timeout: float = 3.0) -> None:
        """Quit through QMP, then make sure: kill the process group."""
        if self.proc is None:
            return
        if self.alive():
            try:
                self.qmp("quit")
                self.proc.wait(timeout=timeout)
            except Exception:  # noqa: BLE001 - any QMP trouble ends in a kill below
                pass
        self._forget()

    def _forget(self) -> None:
        if self.proc is None:
            return
        _kill(self.proc)
        with _live_lock:
            _live.pop(self.proc.pid, None)
