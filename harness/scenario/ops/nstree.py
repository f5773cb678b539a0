"""Typed ops of the nstree area: catalogue items 38-52 (namespace ids, nsfs file handles,
nsfs ioctl validation, NS_MNT_GET_NEXT/PREV's privilege, active references, listns(2)).

Each method mirrors a guest op of the same name and parameters (guest/probes_nsfs_ids.py,
probes_active_refs.py, probes_listns.py) and is declared with @guest_op: its body is never
run."""

from __future__ import annotations

from ...vm.agent import NsContext
from .base import OpsBase, guest_op


class NstreeOps(OpsBase):
    @guest_op
    def nsfs_ns_ids(self, ctx: NsContext | None = None) -> dict:
        """Items 38-40: NS_GET_ID, inodes and handles of our, init's and fresh namespaces."""

    @guest_op
    def nsfs_handles(self, ctx: NsContext | None = None) -> dict:
        """Items 41-42: name_to_handle_at and open_by_handle_at(FD_NSFS_ROOT)."""

    @guest_op
    def nsfs_id_only_handles(self, ctx: NsContext | None = None) -> dict:
        """Item 43: id-only and malformed nsfs handles."""

    @guest_op
    def nsfs_ioctl_checks(self, ctx: NsContext | None = None) -> dict:
        """Item 44: nsfs ioctl numbers with the wrong direction, type or size."""

    @guest_op
    def mntns_walk(self, ctx: NsContext | None = None) -> dict:
        """Item 45: NS_MNT_GET_NEXT/PREV to the end, and who may walk."""

    @guest_op
    def netns_active_refs(self, ctx: NsContext | None = None) -> dict:
        """Item 46: which references keep a netns active (socket, fd, pidfd-ns fd)."""

    @guest_op
    def netns_bind_mount_active(self, name: str = "nshi47", ctx: NsContext | None = None) -> dict:
        """Item 47: a bind mount keeps a netns active; unmounting ends it at once."""

    @guest_op
    def siocgskns_resurrects(self, ctx: NsContext | None = None) -> dict:
        """Item 48: SIOCGSKNS re-activates a netns and its owner chain; its errors."""

    @guest_op
    def listns_lists(self, ctx: NsContext | None = None) -> dict:
        """Items 49-50: what listns lists, by type and by owner."""

    @guest_op
    def listns_pages_and_errors(self, ctx: NsContext | None = None) -> dict:
        """Item 52: listns pagination and errors."""

    @guest_op
    def listns_visibility(self, ctx: NsContext | None = None) -> dict:
        """Item 51: what unprivileged callers and container roots see."""
