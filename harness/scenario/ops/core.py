"""Typed ops every scenario uses: shell commands and the views of a context's devices
(harness/guest/views.py).

`sh()` fails on a non-zero exit by default with a SetupStepFailed naming the step — a
step that only prepares the scene must never read as a verdict on the behaviour under
test.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import SetupStepFailed
from ...vm.agent import NsContext
from .base import OpsBase, guest_op


@dataclass(frozen=True)
class Link:
    ifname: str
    index: int
    address: str | None
    mtu: int | None
    up: bool
    operstate: int | None
    kind: str | None
    link_netnsid: int | None
    rx_packets: int | None
    tx_packets: int | None


@dataclass(frozen=True)
class ShResult:
    rc: int
    out: str
    err: str


class CoreOps(OpsBase):
    def sh(self, cmd: str, ctx: NsContext | None = None, *, check: bool = True) -> ShResult:
        """A shell command (in *ctx*); by default a non-zero exit is a SetupStepFailed."""
        r = ShResult(**self.step(cmd, "sh", ctx, cmd=cmd))
        if check and r.rc != 0:
            where = f" in {ctx.wire()}" if ctx else ""
            raise SetupStepFailed(f"`{cmd}`{where}", f"exit {r.rc}: {r.err.strip()[-300:]}")
        return r

    def links(self, ctx: NsContext | None = None) -> list[Link]:
        """The netlink (RTM_GETLINK) view."""
        return [Link(**d) for d in self.call("links", ctx)]

    def link_names(self, ctx: NsContext | None = None) -> list[str]:
        return sorted(x.ifname for x in self.links(ctx))

    def link(self, ifname: str, ctx: NsContext | None = None) -> Link | None:
        return next((x for x in self.links(ctx) if x.ifname == ifname), None)

    @guest_op
    def class_net(self, ctx: NsContext | None = None) -> list[str]:
        """The sysfs view: what the /sys mounted in *ctx* lists under class/net."""

    @guest_op
    def virtual_net(self, ctx: NsContext | None = None) -> list[str]:
        """What /sys/devices/virtual/net lists in *ctx*."""

    @guest_op
    def sysfs_attrs(self, ifname: str, attrs: list[str], ctx: NsContext | None = None) -> dict:
        """Attribute files of /sys/class/net/IFNAME (value or errno name each)."""

    @guest_op
    def proc_net_dev(self, where: str = "thread-self", ctx: NsContext | None = None) -> dict:
        """The procfs view (/proc/<where>/net/dev): {ifname: {rx_packets, tx_packets}}."""

    @guest_op
    def ns_inodes(self, where: str = "thread-self", ctx: NsContext | None = None) -> dict:
        """{kind: inode} of /proc/<where>/ns/*."""

    @guest_op
    def ifindex(self, name: str, ctx: NsContext | None = None) -> int | None:
        """SIOCGIFINDEX (the ioctl path), None if there is no such device."""

    @guest_op
    def wait_gone(self, ifname: str, timeout: float = 10.0, ctx: NsContext | None = None):
        """Seconds until IFNAME vanished (RTM_GETLINK polls), None if it did not."""

    def link_up(self, ifname: str = "lo", ctx: NsContext | None = None) -> None:
        self.step(f"set {ifname} up", "link_up", ctx, ifname=ifname)

    @guest_op
    def views(self, ctx: NsContext | None = None) -> dict:
        """sysfs, netlink and procfs views of one context at once."""

    @guest_op
    def loaded_modules(self, ctx: NsContext | None = None) -> list[str]:
        """Modules loaded now (/proc/modules)."""
