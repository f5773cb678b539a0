"""QEMU: launching a guest, watching its console, stopping it.

Every QEMU is started through host/children.py: its own process group, killed with the
harness (exit, exception, SIGINT/SIGTERM, PR_SET_PDEATHSIG), so no run leaves a QEMU
spinning behind it.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BootError, HarnessError
from ..guest.uapi import AGENT_PORT
from ..host import children
from .accel import QEMU, Accel
from .console import ConsoleLog


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
            f"virtserialport,chardev=agent,name={AGENT_PORT}",
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

    def _new_console(self) -> None:
        """Create the console file ourselves: fresh, private, never through a symlink
        someone planted at its name (QEMU then opens the file we made)."""
        path = self.console.path
        if path.is_symlink() or path.exists():
            path.unlink()
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600))

    def start(self) -> None:
        for sock in (self.qmp_path, self.agent_path):  # a killed QEMU's sockets stay behind
            sock.unlink(missing_ok=True)
        for _attempt in range(5):
            port = free_port()
            self._new_console()
            err = (self.workdir / "qemu.stderr").open("w+")
            self.started_at = time.monotonic()
            try:
                self.proc = children.spawn(
                    self.command(port),
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    env={**os.environ, "TMPDIR": str(self.workdir)},
                )
            except OSError as e:
                raise BootError(f"cannot start QEMU ({QEMU}): {e.strerror}") from None
            # QEMU creates its QMP socket once its backends (the port forward included)
            # are set up; a forward whose port raced away makes it exit instead.
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and not self.qmp_path.exists():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.002)
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

    def qmp(self, command: str, timeout: float = 10.0, **args):
        """Send one QMP command and return its result; any failure — including a QEMU that
        does not answer within *timeout* (stopped, hung) — is a HarnessError."""
        import asyncio

        from qemu.qmp import QMPClient

        async def run():
            client = QMPClient()
            await asyncio.wait_for(client.connect(str(self.qmp_path)), timeout)
            try:
                return await asyncio.wait_for(client.execute(command, args or None), timeout)
            finally:
                await asyncio.wait_for(client.disconnect(), timeout)

        try:
            return asyncio.run(run())
        except Exception as e:  # noqa: BLE001 - OSError, QMP errors, timeouts
            raise HarnessError(f"QMP {command} failed: {type(e).__name__}: {e}") from e

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
                self.qmp("quit", timeout=2)  # a stopped or hung QEMU is killed below
                self.proc.wait(timeout=timeout)
            except Exception:  # noqa: BLE001 - any QMP trouble ends in a kill below
                pass
        self._forget()

    def _forget(self) -> None:
        if self.proc is not None:
            children.kill(self.proc)


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
