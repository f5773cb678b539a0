"""Typed host-side guest operations: one method per op of the guest registry.

Scenarios call `guest.links(ctx)` instead of `agent.call("links", ...)`: parameters are
named and checked here, a namespace context is an explicit NsContext, and `sh()` fails
on a non-zero exit by default with a SetupStepFailed naming the step — a step that only
prepares the scene must never read as a verdict on the behaviour under test.
"""

from __future__ import annotations

from dataclasses import dataclass

from .agent import CHILD, Agent, GuestOpError, NsContext
from .verdict import SetupStepFailed


@dataclass(frozen=True)
class Link:
    ifname: str
    index: int
    address: str | None
    mtu: int | None
    up: bool
    operstate: str | None
    kind: str | None
    link_netnsid: int | None
    rx_packets: int | None
    tx_packets: int | None


@dataclass(frozen=True)
class ShResult:
    rc: int
    out: str
    err: str


class Guest:
    """The operations a scenario can run in the guest (see harness/guest/*.py)."""

    def __init__(self, agent: Agent):
        self.agent = agent

    def call(self, op: str, ctx: NsContext | None = None, **args):
        return self.agent.call(op, ctx=ctx, **args)

    def step(self, what: str, op: str, ctx: NsContext | None = None, **args):
        """Run an op that only sets the scene: any failure is a SetupStepFailed."""
        try:
            return self.agent.call(op, ctx=ctx, **args)
        except GuestOpError as e:
            raise SetupStepFailed(what, str(e)) from None

    # ------------------------------------------------------------ commands
    def sh(self, cmd: str, ctx: NsContext | None = None, *, check: bool = True) -> ShResult:
        """A shell command (in *ctx*); by default a non-zero exit is a SetupStepFailed."""
        r = ShResult(**self.step(cmd, "sh", ctx, cmd=cmd))
        if check and r.rc != 0:
            where = f" in {ctx.wire()}" if ctx else ""
            raise SetupStepFailed(f"`{cmd}`{where}", f"exit {r.rc}: {r.err.strip()[-300:]}")
        return r

    # ------------------------------------------------------------ views of devices
    def links(self, ctx: NsContext | None = None) -> list[Link]:
        """The netlink (RTM_GETLINK) view."""
        return [Link(**d) for d in self.call("links", ctx)]

    def link_names(self, ctx: NsContext | None = None) -> list[str]:
        return [x.ifname for x in self.links(ctx)]

    def link(self, ifname: str, ctx: NsContext | None = None) -> Link | None:
        return next((x for x in self.links(ctx) if x.ifname == ifname), None)

    def class_net(self, ctx: NsContext | None = None) -> list[str]:
        """The sysfs view: what the /sys mounted in *ctx* lists under class/net."""
        return self.call("class_net", ctx)

    def virtual_net(self, ctx: NsContext | None = None) -> list[str]:
        return self.call("virtual_net", ctx)

    def sysfs_attrs(self, ifname: str, attrs: list[str], ctx: NsContext | None = None) -> dict:
        return self.call("sysfs_attrs", ctx, ifname=ifname, attrs=attrs)

    def proc_net_dev(self, where: str = "thread-self", ctx: NsContext | None = None) -> dict:
        """The procfs view (/proc/<where>/net/dev)."""
        return self.call("proc_net_dev", ctx, where=where)

    def ns_inodes(self, where: str = "thread-self", ctx: NsContext | None = None) -> dict:
        return self.call("ns_inodes", ctx, where=where)

    def ifindex(self, name: str, ctx: NsContext | None = None) -> int | None:
        """if_nametoindex (SIOCGIFINDEX ioctl): a third view of a device's presence."""
        return self.call("ifindex", ctx, name=name)

    def wait_gone(self, ifname: str, timeout: float = 10.0, ctx: NsContext | None = None):
        return self.call("wait_gone", ctx, ifname=ifname, timeout=timeout)

    def link_up(self, ifname: str = "lo", ctx: NsContext | None = None) -> None:
        self.step(f"set {ifname} up", "link_up", ctx, ifname=ifname)

    def views(self, ctx: NsContext | None = None) -> dict:
        """sysfs, netlink and procfs views of one context at once."""
        return self.call("views", ctx)


__all__ = ["CHILD", "Guest", "Link", "NsContext", "ShResult"]
