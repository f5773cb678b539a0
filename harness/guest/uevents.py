"""Kernel uevents as a process in one netns receives them (NETLINK_KOBJECT_UEVENT, group 1):
network devices' uevents are tagged with the device's netns and delivered only there."""

from __future__ import annotations

import select
import socket

from .nsops import socket_in

NETLINK_KOBJECT_UEVENT = 15


class Uevents:
    """A uevent listener made inside netns file *path* (None: the caller's netns). It
    pins that netns while open: close it before expecting the netns to die."""

    def __init__(self, path: str | None = None):
        self.s = socket_in(path, socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.s.bind((0, 1))

    def read(self, timeout: float = 0.0, subsystem: str | None = "net") -> list[dict]:
        """Drain what arrived ({action, devpath, interface, ifindex, devpath_old}), waiting
        at most *timeout* for the first one. Uevents of a netlink request are sent before
        its ACK, so after a request a drain with timeout 0 is complete."""
        out = []
        while True:
            if not select.select([self.s], [], [], timeout)[0]:
                return out
            timeout = 0.0
            parts = self.s.recv(1 << 16).split(b"\0")
            env = dict(p.decode(errors="replace").split("=", 1) for p in parts[1:] if b"=" in p)
            if subsystem and env.get("SUBSYSTEM") != subsystem:
                continue
            ev = {"action": env.get("ACTION"), "devpath": env.get("DEVPATH")}
            for k in ("INTERFACE", "IFINDEX", "DEVPATH_OLD"):
                if k in env:
                    ev[k.lower()] = env[k]
            out.append(ev)

    def close(self) -> None:
        self.s.close()

    def __enter__(self) -> Uevents:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
