"""Commands and files over SSH: the part of a Machine a test uses to act like a user in
the guest (the NixOS test driver's run/succeed naming). The session is opened on first use,
so tests that only talk to the agent never pay for a key exchange."""

from __future__ import annotations

import time
from pathlib import Path

from .errors import CommandFailed, GuestDied, HarnessError
from .ssh import Result, SSHSession

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
            self._raise_if_dead()
            raise

    def succeed(self, cmd: str, timeout: float = 60.0) -> str:
        """Run and require exit 0; return stdout (NixOS driver naming)."""
        return self.run(cmd, timeout=timeout, check=True).stdout

    def put(self, local: Path | str, remote: str, mode: int | None = None) -> None:
        self._session().put(local, remote, mode)

    def get(self, remote: str, local: Path | str) -> None:
        self._session().get(remote, local)
