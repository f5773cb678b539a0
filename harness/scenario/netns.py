"""Namespaces as a test holds them: network namespaces (named like `ip netns add`, or
anonymous, kept by an fd) and holders of other namespace types — and what an empty
network namespace must contain on a given kernel."""

from __future__ import annotations

from ..errors import HarnessError
from ..vm.agent import NsContext
from .ops import Agent

#: Fallback devices a tunnel driver creates in every new netns, by config option (and
#: the module that option builds): net/ipv4/ip_gre.c, ipip.c, ip_vti.c, net/ipv6/sit.c,
#: ip6_tunnel.c, ip6_gre.c, ip6_vti.c (fb_tunnels_only_for_init_net is 0 by default).
TUNNEL_FALLBACKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "NET_IPIP": ("ipip", ("tunl0",)),
    "NET_IPGRE": ("ip_gre", ("gre0", "gretap0", "erspan0")),
    "NET_IPVTI": ("ip_vti", ("ip_vti0",)),
    "IPV6_SIT": ("sit", ("sit0",)),
    "IPV6_TUNNEL": ("ip6_tunnel", ("ip6tnl0",)),
    "IPV6_GRE": ("ip6_gre", ("ip6gre0", "ip6gretap0", "ip6erspan0")),
    "IPV6_VTI": ("ip6_vti", ("ip6_vti0",)),
}


def expected_empty_netns(config: dict[str, str], loaded_modules: set[str]) -> set[str]:
    """lo, plus each tunnel driver's fallback devices if it is built in or loaded."""
    out = {"lo"}
    for option, (module, devices) in TUNNEL_FALLBACKS.items():
        if config.get(option) == "y" or (config.get(option) == "m" and module in loaded_modules):
            out.update(devices)
    return out


class NetNS:
    """A network namespace in the guest, as a test holds it."""

    def __init__(self, agent: Agent, handle: dict):
        self.agent = agent
        self.name: str = handle["name"]
        self.path: str = handle["path"]
        self.inode: int = handle["inode"]
        self.nsid: int = handle["nsid"]
        self.anonymous: bool = handle["anonymous"]
        self.destroyed = False

    @classmethod
    def create(cls, agent: Agent, name: str, anonymous: bool = False) -> NetNS:
        return cls(
            agent,
            agent.step(f"create netns {name}", "netns_create", name=name, anonymous=anonymous),
        )

    @property
    def ctx(self) -> NsContext:
        """Inside this netns, /sys as it was (a setns without remounting sysfs)."""
        return NsContext(net=self.path)

    @property
    def sysfs_ctx(self) -> NsContext:
        """Inside this netns with sysfs remounted, as `ip netns exec` does."""
        return NsContext(net=self.path, sysfs=True)

    def call(self, op: str, *, sysfs: bool = False, **args):
        return self.agent.call(op, self.sysfs_ctx if sysfs else self.ctx, **args)

    def sh(self, cmd: str, check: bool = True):
        """A shell command inside this netns (with its own sysfs view)."""
        return self.agent.sh(cmd, self.sysfs_ctx, check=check)

    def views(self) -> dict:
        return self.agent.views(self.sysfs_ctx)

    def destroy(self, timeout: float = 10.0) -> dict:
        """Release the namespace and wait until the kernel destroyed it, watched two ways:
        its netns id leaving the id table (RTM_GETNSID) and an RTM_DELNSID event. Either one
        is enough here — a kernel that breaks one of them must fail the test that observes
        netns ids (lifetime), not every test that merely used a namespace; the result says
        which way it was seen."""
        res = self.agent.step(
            f"destroy netns {self.name}", "netns_destroy", name=self.name, timeout=timeout
        )
        self.destroyed = True
        if not res["destroyed"] and not res["delnsid_event"]:
            raise HarnessError(
                f"netns {self.name} still exists {res['waited_s']} s after its release "
                "(its nsid is still listed and no RTM_DELNSID came)"
            )
        return res

    def __repr__(self) -> str:
        return f"NetNS({self.name}, inode={self.inode}, nsid={self.nsid})"


class NsHolder:
    """Namespaces of other types (mnt, uts, ipc...) held open by a waiting guest process."""

    def __init__(self, agent: Agent, handle: dict):
        self.agent = agent
        self.pid: int = handle["pid"]
        self.paths: dict[str, str] = handle["paths"]
        self.inodes: dict[str, int] = handle["inodes"]
        self.released = False

    @classmethod
    def create(cls, agent: Agent, kinds: list[str], hostname: str | None = None) -> NsHolder:
        what = f"hold {'+'.join(kinds)} namespaces"
        return cls(agent, agent.step(what, "ns_hold", kinds=list(kinds), hostname=hostname))

    @property
    def ctx(self) -> NsContext:
        return NsContext(**self.paths)

    def call(self, op: str, **args):
        """Run a guest op in a child that joined all of the held namespaces."""
        return self.agent.call(op, self.ctx, **args)

    def release(self) -> None:
        self.released = True
        if not self.agent.call("ns_release", pid=self.pid):
            raise HarnessError(f"namespace holder {self.pid} did not exit")
