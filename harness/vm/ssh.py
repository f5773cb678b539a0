"""SSH into the guest (paramiko): pinned host key, key-only login, timed commands.

One Transport per guest carries every command as its own channel: a new connection
costs ~0.25 s under TCG, a channel on an open one ~0.13 s.
"""

from __future__ import annotations

import logging
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from ..errors import CommandFailed, CommandTimeout, HarnessError


def pump(chan, out: bytearray, err: bytearray) -> tuple[bool, bool]:
    """Move what *chan* has now into *out*/*err*: (anything read, the command is over with
    nothing left to read). The one reading loop of every command, short or streamed."""
    drained = False
    while chan.recv_ready():
        out += chan.recv(65536)
        drained = True
    while chan.recv_stderr_ready():
        err += chan.recv_stderr(65536)
        drained = True
    done = chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready()
    return drained, done


class HostKeyMismatch(HarnessError):
    """The guest presented a host key other than the one pinned for it."""


@dataclass(frozen=True)
class Result:
    cmd: str
    rc: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.rc == 0


class SSHSession:
    """An authenticated connection to one guest."""

    def __init__(self, transport: paramiko.Transport, host: str, port: int, log=None):
        self.transport = transport
        self.host, self.port = host, port
        self.log = log or logging.getLogger("nsharness.ssh")
        self._sftp: paramiko.SFTPClient | None = None

    @classmethod
    def connect(
        cls,
        port: int,
        *,
        host_key: paramiko.PKey,
        client_key: paramiko.PKey,
        timeout: float,
        alive=lambda: True,
        host: str = "127.0.0.1",
        user: str = "root",
        log=None,
    ) -> SSHSession:
        """Connect, retrying until the server answers or *timeout* passes.

        The host key is compared with the pinned one before authenticating; a mismatch
        is never retried or accepted.
        """
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline and alive():
            sock = None
            try:
                sock = socket.create_connection((host, port), timeout=2)
                t = paramiko.Transport(sock)
                t.get_security_options().key_types = (host_key.get_name(),)
                t.start_client(timeout=max(1.0, deadline - time.monotonic()))
                remote = t.get_remote_server_key()
                if remote.asbytes() != host_key.asbytes():
                    t.close()
                    raise HostKeyMismatch(
                        f"guest on port {port} presented host key {remote.fingerprint}, "
                        f"pinned {host_key.fingerprint}: refusing"
                    )
                t.auth_publickey(user, client_key)
                t.set_keepalive(5)
                return cls(t, host, port, log)
            except HostKeyMismatch:
                raise
            except (OSError, paramiko.SSHException, EOFError) as e:
                last = e
                if sock is not None:
                    sock.close()
                time.sleep(0.05)
        raise HarnessError(
            f"no SSH answer from guest on {host}:{port} within {timeout:.0f}s (last error: {last})"
        )

    def run(
        self,
        cmd: str,
        *,
        timeout: float = 60.0,
        check: bool = False,
        input: bytes | str | None = None,  # noqa: A002
    ) -> Result:
        """Run a shell command; return its exit code, output and duration.

        Past *timeout* the command is killed in the guest (coreutils timeout, a second
        later than ours as a backstop) and CommandTimeout names it.
        """
        start = time.monotonic()
        chan = self._open(timeout)
        guest_limit = int(timeout) + 2
        chan.exec_command(f"exec timeout -s KILL {guest_limit} sh -c {shlex.quote(cmd)}")
        if input is not None:
            chan.sendall(input.encode() if isinstance(input, str) else input)
        chan.shutdown_write()
        out, err = bytearray(), bytearray()
        chan.settimeout(0.05)
        deadline = start + timeout
        while True:
            drained, done = pump(chan, out, err)
            if done:
                break
            if time.monotonic() > deadline:
                chan.close()
                raise CommandTimeout(f"guest command timed out after {timeout:g}s: {cmd}")
            if not self.transport.is_active():
                raise HarnessError(f"SSH connection lost while running: {cmd}")
            if not drained:
                time.sleep(0.005)
        rc = chan.recv_exit_status()
        chan.close()
        if rc == -1:  # closed without an exit status: the server (or the guest) went away
            raise HarnessError(f"SSH channel closed without an exit status: {cmd}")
        res = Result(
            cmd,
            rc,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            time.monotonic() - start,
        )
        self.log.info("ssh `%s` -> exit %d in %.3f s", _short(cmd), rc, res.duration)
        if check and rc != 0:
            raise CommandFailed(
                f"guest command failed (exit {rc}): {cmd}: {res.stderr.strip()[-300:]}"
            )
        return res

    def _open(self, timeout: float) -> paramiko.Channel:
        """A session channel whose open AND exec request are bounded in time (paramiko
        waits for the exec reply with the channel's timeout, None by default)."""
        try:
            chan = self.transport.open_session(timeout=min(timeout, 30))
        except (paramiko.SSHException, OSError, EOFError) as e:
            raise HarnessError(f"cannot open an SSH channel to the guest: {e}") from e
        chan.settimeout(min(timeout, 30))
        return chan

    def open_channel(self, cmd: str, timeout: float = 30) -> paramiko.Channel:
        """A long-lived exec channel (for the guest agent's request/response stream)."""
        chan = self._open(timeout)
        chan.exec_command(cmd)
        return chan

    @property
    def sftp(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            self._sftp = paramiko.SFTPClient.from_transport(self.transport)
        return self._sftp

    def put(self, local: Path | str, remote: str, mode: int | None = None) -> None:
        self.sftp.put(str(local), remote)
        if mode is not None:
            self.sftp.chmod(remote, mode)

    def get(self, remote: str, local: Path | str) -> None:
        self.sftp.get(remote, str(local))

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.close()
        self.transport.close()


def _short(cmd: str, n: int = 120) -> str:
    cmd = " ".join(cmd.split())
    return cmd if len(cmd) <= n else cmd[: n - 3] + "..."
