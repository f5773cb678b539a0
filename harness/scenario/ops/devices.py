"""Typed ops of the devices area: catalogue items 31-37, v1 and v3 (devices across namespaces).

Each method mirrors a guest op of the same name and parameters (guest/probes_devices.py,
probes_devices_links.py, probes_device_nodes.py, probes_devices_moves.py) and is declared
with @guest_op: its body is never run. They run in a fresh child of the agent by default
(CHILD): the probes open netlink sockets inside other netns by setns and back. A guest op
that could not set its scene raises SetupError there, which arrives here as a
SetupStepFailed naming the step."""

from __future__ import annotations

from ...vm.agent import CHILD, NsContext
from .base import OpsBase, guest_op


class DevicesOps(OpsBase):
    @guest_op
    def veth_delete_one_end(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 31: delete one veth end, look for the peer in the other netns."""

    @guest_op
    def veth_dies_with_netns(self, timeout: float = 5.0, ctx: NsContext | None = CHILD) -> dict:
        """Item 31: B's last process exits; the init end of its veth must go."""

    @guest_op
    def netns_immutable_devices(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 32: lo and a bridge refuse to move; a dummy moves (control)."""

    @guest_op
    def move_name_clash(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 33: move onto a taken name, then with a new name in the same request."""

    @guest_op
    def move_altname_clash(self, ctx: NsContext | None = CHILD) -> dict:
        """Items 33, v3: altname clashes on move; altnames travel with the device."""

    @guest_op
    def move_ifindex_clash(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 33: a moved device whose ifindex is taken gets a new one."""

    @guest_op
    def add_in_other_netns_name_clash(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 34: RTM_NEWLINK into B under a name the caller's netns has."""

    @guest_op
    def macvlan_lower_in_other_netns(
        self, timeout: float = 5.0, ctx: NsContext | None = CHILD
    ) -> dict:
        """Item 35: macvlan in B on a lower in init; lower deleted; B dies."""

    @guest_op
    def nic_moved_and_returned(
        self,
        clash: bool = False,
        nic: str = "eth1",
        gw: str = "10.0.2.2",
        timeout: float = 15.0,
        ctx: NsContext | None = CHILD,
    ) -> dict:
        """Item 36: the spare NIC moved into B, used there, back in init when B dies."""

    @guest_op
    def dev_node_in_container(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 37: a device node bind-mounted into a container's mount namespace."""

    @guest_op
    def tun_created_in_openers_netns(self, ctx: NsContext | None = CHILD) -> dict:
        """Item 37: where TUNSETIFF creates the device: the opener's netns."""

    @guest_op
    def ethtool_netns_local(self, ctx: NsContext | None = CHILD) -> dict:
        """v1: lo's netns-local feature via the ETHTOOL ioctl and ethtool-netlink."""
