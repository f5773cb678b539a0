"""Typed ops of the lifetime area: catalogue items 19-24 and v4 (nsfs identity, keeping
namespaces alive, destruction, nsfs ioctls).

Each method mirrors a guest op of the same name and parameters (guest/probes_lifetime.py,
probes_nsfs_ioctls.py) and is declared with @guest_op: its body is never run."""

from __future__ import annotations

from ...vm.agent import NsContext
from .base import OpsBase, guest_op


class LifetimeOps(OpsBase):
    @guest_op
    def nsfs_identity(self, ctx: NsContext | None = None) -> dict:
        """Item 19: readlink/stat/fstat/lstat/NS_GET_NSTYPE/statfs of every ns link."""

    @guest_op
    def bind_mount_keepalive(self, path: str = "/run/nshl20", ctx: NsContext | None = None) -> dict:
        """Item 20: a bind-mounted ns file keeps a netns alive; umount + unlink ends it."""

    @guest_op
    def fd_and_socket_keepalive(self, ctx: NsContext | None = None) -> dict:
        """Item 21: an nsfs fd and a UDP socket each keep a netns alive."""

    @guest_op
    def ip_netns_delete_keepalive(
        self, name: str = "nshl21d", ctx: NsContext | None = None
    ) -> dict:
        """Item 21: `ip netns delete` removes name and mount; an open fd keeps the netns."""

    @guest_op
    def netns_destruction(self, nic: str = "eth1", ctx: NsContext | None = None) -> dict:
        """Item 22: a netns's destruction seen on every channel, and its teardown finishing."""

    @guest_op
    def nsfs_owner_ioctls(self, ctx: NsContext | None = None) -> dict:
        """Item 23: NS_GET_USERNS/PARENT/NSTYPE/OWNER_UID, from outside and inside."""

    @guest_op
    def nsfs_mntns_ioctls(self, ctx: NsContext | None = None) -> dict:
        """Item 24: NS_GET_MNTNS_ID, NS_MNT_GET_INFO/NEXT/PREV."""

    @guest_op
    def nsfs_pidns_ioctls(self, ctx: NsContext | None = None) -> dict:
        """Item 24: NS_GET_{PID,TGID}_{FROM,IN}_PIDNS."""

    @guest_op
    def pidfd_ns_ioctls(self, ctx: NsContext | None = None) -> dict:
        """v4: PIDFD_GET_<TYPE>_NAMESPACE."""
