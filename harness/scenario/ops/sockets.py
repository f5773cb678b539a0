"""Typed ops of the sockets area: catalogue items 25-30 (sockets per netns).

Each method mirrors a guest op of the same name and parameters (guest/probes_sockets.py,
probes_sockets_per_netns.py) and is declared with @guest_op: its body is never run. They
run in a fresh child of the agent by default (CHILD): the probes switch their thread's
netns and back. A guest op that could not set its scene raises SetupError there, which
arrives here as a SetupStepFailed naming the step."""

from __future__ import annotations

from ...vm.agent import CHILD, NsContext
from .base import OpsBase, guest_op


class SocketsOps(OpsBase):
    @guest_op
    def socket_stays_in_creation_netns(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 25: setns(B) -> socket -> setns(back); cookie, SIOCGSKNS, B's procfs."""

    @guest_op
    def socketat_idioms(
        self, threads: int = 4, rounds: int = 15, ctx: NsContext | None = CHILD
    ) -> dict:
        """Item 30: both socketat() idioms, and idiom 1 from concurrent threads."""

    @guest_op
    def fresh_netns_loopback(self, port: int = 0, ctx: NsContext | None = CHILD) -> dict:
        """Item 26: lo in a fresh netns and bind/connect there, before and after lo up."""

    @guest_op
    def same_port_in_two_netns(self, port: int = 0, ctx: NsContext | None = CHILD) -> dict:
        """Item 26: 127.0.0.1:PORT bound in B, C and init at once."""

    @guest_op
    def unix_names_per_netns(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 27: abstract and path AF_UNIX names across netns."""

    @guest_op
    def proc_net_follows_leader(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 28: /proc/self/net vs /proc/thread-self/net, both ways round."""

    @guest_op
    def netlink_events_and_nsids(self, nsid: int = 42, ctx: NsContext | None = CHILD) -> dict:
        """Item 29: events per netns, netns ids, veth link-netnsid."""
