"""An interactive terminal on the guest over the harness's own pinned SSH session."""

from __future__ import annotations

import os
import select
import shutil
import sys
import termios
import tty

from .ssh import SSHSession


def interactive_shell(session: SSHSession) -> int:
    """Bridge this terminal to a login shell in the guest until it exits."""
    cols, rows = shutil.get_terminal_size()
    chan = session.transport.open_session()
    chan.get_pty(term=os.environ.get("TERM", "vt100"), width=cols, height=rows)
    chan.invoke_shell()
    if not sys.stdin.isatty():
        chan.sendall(sys.stdin.buffer.read())
        chan.shutdown_write()
    old = termios.tcgetattr(sys.stdin) if sys.stdin.isatty() else None
    try:
        if old is not None:
            tty.setraw(sys.stdin.fileno())
        while True:
            fds = [chan] + ([sys.stdin] if old is not None else [])
            ready, _, _ = select.select(fds, [], [])
            if chan in ready:
                data = chan.recv(32768)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if sys.stdin in ready:
                data = os.read(sys.stdin.fileno(), 1024)
                if not data:
                    break
                chan.sendall(data)
    finally:
        if old is not None:
            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, old)
    return chan.recv_exit_status() if chan.exit_status_ready() else 0
