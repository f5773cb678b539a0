"""QEMU: launching a guest, watching its console, stopping it.

Every QEMU we start is registered here and killed (by PID, its own process group) on
normal exit, on an exception, on SIGINT/SIGTERM, and by the kernel itself if our process
dies first (PR_SET_PDEATHSIG), so no run leaves a QEMU spinning behind it.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .accel import QEMU, Accel
from .console import ConsoleLog
from .errors import BootError, HarnessError


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


#: libc is loaded here, at import: the code between fork and exec must not import or load
#: anything while other threads (paramiko's) may hold the import lock or malloc's.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _child_setup() -> None:
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the parent


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
    root_disk: Path  # a qcow2 overlay private to this VM (its backing file is the image)
    modules_disk: Path | None
    accel: Accel
    memory_mb: int = 256
    smp: int = 1
    spare_nic: bool = True  # a second virtio NIC (eth1) that scenarios may move around
    incoming: Path | None = None  # restore this saved machine state instead of booting
    extra: list[str] = field(default_factory=list)

    def machine_args(self) -> list[str]:
        """Everything that shapes the machine (what a saved state must be restored into):
        the same list for the VM that saves and every VM that restores."""
        a = [
            *base_args(self.accel, self.memory_mb, self.smp),
            "-kernel",
            str(self.kernel),
            "-initrd",
            str(self.initrd),
            "-append",
            self.append,
            "-device",
            "virtio-net-pci,netdev=n0,romfile=,disable-legacy=on",
            "-device",
            "virtio-blk-pci,drive=root,disable-legacy=on",
            "-device",
            "virtio-serial-pci,disable-legacy=on",
            "-device",
            "virtserialport,chardev=agent,name=nsh.agent",
        ]
        if self.modules_disk:
            a += ["-device", "virtio-blk-pci,drive=mods,disable-legacy=on"]
        if self.spare_nic:
            a += [
                "-netdev",
                "user,id=n1,restrict=on",
                "-device",
                "virtio-net-pci,netdev=n1,romfile=,disable-legacy=on,mac=52:54:00:6e:73:68",
            ]
        return a + self.extra


class Qemu:
    """One running QEMU with its console log, QMP socket, agent socket and SSH forward."""

    def __init__(self, cfg: QemuConfig, workdir: Path, console_path: Path):
        self.cfg = cfg
        self.workdir = workdir
        self.console = ConsoleLog(console_path)
        self.qmp_path = workdir / "qmp.sock"
        self.agent_path = workdir / "agent.sock"
        self.ssh_port = 0
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0

    def command(self, port: int) -> list[str]:
        c = self.cfg
        cmd = [
            *c.machine_args(),
            "-chardev",
            f"file,id=con,path={self.console.path}",
            "-serial",
            "chardev:con",
            "-qmp",
            f"unix:{self.qmp_path},server=on,wait=off",
            "-chardev",
            f"socket,id=agent,path={self.agent_path},server=on,wait=off",
            # restrict=on: the guest reaches nothing outside; the forward binds loopback only.
            "-netdev",
            f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{port}-10.0.2.15:22",
            "-drive",
            f"file={c.root_disk},format=qcow2,if=none,id=root,cache=unsafe",
        ]
        if c.modules_disk:
            cmd += ["-drive", f"file={c.modules_disk},format=raw,if=none,id=mods,readonly=on"]
        if c.incoming:
            cmd += ["-incoming", f"exec:cat {shlex.quote(str(c.incoming))}"]
        return cmd

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
                process_group=0,  # our own group: killed as one, by PID
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

    def elapsed(self) -> float:
        """Seconds since launch."""
        return time.monotonic() - self.started_at

    def wait_for(self, pattern: str, timeout: float) -> float:
        """Wait until the console shows *pattern*; fail fast on panic or QEMU exit."""
        deadline = time.monotonic() + timeout
        while True:
            if self.console.seen(pattern):
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

    def qmp(self, command: str, **args):
        """Send one QMP command and return its result; any failure is a HarnessError."""
        from qemu.qmp.legacy import QEMUMonitorProtocol

        mon = QEMUMonitorProtocol(str(self.qmp_path))
        try:
            mon.connect(negotiate=True)
            return mon.cmd(command, **args)
        except Exception as e:  # noqa: BLE001 - OSError, QMP ExecuteError, protocol errors
            raise HarnessError(f"QMP {command} failed: {e}") from e
        finally:
            mon.close()

    def wait_qmp(self, timeout: float) -> None:
        """Until the QMP socket accepts connections (QEMU is up) or QEMU died."""
        deadline = time.monotonic() + timeout
        while not self.qmp_path.exists():
            if not self.alive():
                code, err = self.proc.returncode, self.stderr()[-300:]
                raise BootError(f"QEMU exited (code {code}): {err}")
            if time.monotonic() > deadline:
                raise BootError("QEMU did not open its QMP socket")
            time.sleep(0.002)

    def status(self) -> str:
        return self.qmp("query-status")["status"]

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


def overlay(backing: Path, fmt: str, dest: Path) -> None:
    """A qcow2 layer over *backing* that takes all of a guest's writes (the image and a
    snapshot's disk layer are never written)."""
    res = subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(backing), "-F", fmt, str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if res.returncode != 0:
        raise BootError(f"qemu-img create failed: {res.stderr.strip()[-300:]}")
