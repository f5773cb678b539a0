"""Commands and files over SSH: the part of a Machine a test uses to act like a user in
the guest (the NixOS test driver's run/succeed naming). The session is opened on first use,
so tests that only talk to the agent never pay for a key exchange."""

from __future__ import annotations

import time
from pathlib import Path

from ..errors import CommandFailed, GuestDied, HarnessError
from .guest import Streamed
from .ssh import Result, SSHSession, pump

READY = "nsharness: sshd started"


class Remote:
    """Mixed into Machine, which provides qemu, keys, opts, record, log, label."""

    _ssh: SSHSession | None = None

    @property
    def ssh(self) -> SSHSession:
        """The SSH session, opened on first use (tests that only call the agent never pay
        for a key exchange)."""
        if self._ssh is None:
            if self.qemu is None or not self.qemu.alive():
                raise GuestDied(f"guest {self.label} is not running")
            start = time.monotonic()
            if self.record is None or self.record.mode == "cold":
                self.qemu.wait_for(READY, self.opts.boot_timeout)  # (a restored guest has a
                # new, empty console: its SSH server was listening when it was saved)
            self._ssh = SSHSession.connect(
                self.qemu.ssh_port,
                host_key=self.keys.host_pkey_public(),
                client_key=self.keys.client.pkey(),
                timeout=self.opts.boot_timeout,
                alive=self.qemu.alive,
                log=self.log,
            )
            self.log.info("SSH session up (host key pinned) in %.2f s", time.monotonic() - start)
        return self._ssh

    # ------------------------------------------------------------ use
    def _session(self) -> SSHSession:
        return self.ssh

    def run(self, cmd: str, *, timeout: float = 60.0, check: bool = False, input=None) -> Result:  # noqa: A002
        """Run a shell command in the guest. A guest that died meanwhile raises GuestDied."""
        try:
            return self._session().run(cmd, timeout=timeout, check=check, input=input)
        except CommandFailed:
            raise
        except HarnessError:
            self.raise_if_dead()
            raise

    def succeed(self, cmd: str, timeout: float = 60.0) -> str:
        """Run and require exit 0; return stdout (NixOS driver naming)."""
        return self.run(cmd, timeout=timeout, check=True).stdout

    def put(self, local: Path | str, remote: str, mode: int | None = None) -> None:
        self._session().put(local, remote, mode)

    def get(self, remote: str, local: Path | str) -> None:
        self._session().get(remote, local)

    def stream(self, cmd: str, limit: float) -> Streamed:
        """Run *cmd* on its own channel, reading as it goes, so that a program killed by a
        signal, past *limit* seconds or in a guest that died still leaves its output."""
        start = time.monotonic()
        ssh = self.ssh  # (GuestDied if the guest is not running)
        chan = ssh.open_channel(cmd)
        chan.settimeout(0.05)
        out, err = bytearray(), bytearray()
        next_check, host_timeout = start + 0.5, False
        while True:
            drained, done = pump(chan, out, err)
            if done:
                break
            now = time.monotonic()
            if now > start + limit:
                host_timeout = True
                break
            if now > next_check:
                next_check = now + 0.5
                if not self.alive() or not ssh.transport.is_active():
                    break
            if not drained:
                time.sleep(0.005)
        died = None
        # A channel that ends without an exit status (-1), or a dead transport: did it die?
        if not host_timeout and (
            not ssh.transport.is_active() or chan.recv_exit_status() == -1 or not self.alive()
        ):
            died = self._death_evidence(ssh)
        chan.close()
        return Streamed(
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            time.monotonic() - start,
            host_timeout,
            died,
        )

    def _death_evidence(self, ssh: SSHSession, grace: float = 3.0) -> str | None:
        """The console's account of a guest that went away, after *grace* s for QEMU to exit."""
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.alive() and ssh.transport.is_active():
            return None  # only this channel closed; the guest is fine
        time.sleep(0.5)  # let the console file catch the panic's last lines
        crash = self.qemu.console.crash() if self.qemu is not None else None  # the headline
        evidence = "\n".join(x for x in (crash, self.console_tail(60)) if x)
        return evidence or "the guest stopped answering"
