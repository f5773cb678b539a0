"""Typed ops of the mntns area: catalogue items 66-69 (mount namespaces made from file
descriptors: open_tree OPEN_TREE_NAMESPACE, fsmount FSMOUNT_NAMESPACE, empty mount
namespaces; the clone3 flags that came with them).

Each method mirrors a guest op of the same name and parameters
(guest/probes_mntns_from_fds.py) and is declared with @guest_op: its body is never run."""

from __future__ import annotations

from ...vm.agent import NsContext
from .base import OpsBase, guest_op


class MntnsOps(OpsBase):
    @guest_op
    def open_tree_namespace(self, ctx: NsContext | None = None) -> dict:
        """Item 66: open_tree(OPEN_TREE_NAMESPACE)."""

    @guest_op
    def fsmount_namespace(self, ctx: NsContext | None = None) -> dict:
        """Item 67: fsmount(FSMOUNT_NAMESPACE)."""

    @guest_op
    def empty_mntns(self, ctx: NsContext | None = None) -> dict:
        """Item 68: empty mount namespaces (unshare and clone3)."""

    @guest_op
    def clone3_new_flags(self, ctx: NsContext | None = None) -> dict:
        """Item 69: CLONE_AUTOREAP, CLONE_NNP, CLONE_PIDFD_AUTOKILL."""
