"""Typed ops of the pidns area: catalogue items 58-65 (what a user namespace's root may
mount, procfs subset=pid and pidns=, PIDFD_GET_INFO, the pidfd namespace ioctls, setns with
PIDFD_SELF, pid_max per pid namespace, joining an empty pid namespace).

Each method mirrors a guest op of the same name and parameters
(guest/probes_userns_mounts.py, probes_pidfd_info.py, probes_pid_namespaces.py) and is
declared with @guest_op: its body is never run."""

from __future__ import annotations

from ...vm.agent import NsContext
from .base import OpsBase, guest_op


class PidnsOps(OpsBase):
    @guest_op
    def userns_sysfs_proc_mounts(self, ctx: NsContext | None = None) -> dict:
        """Items 58-59: sysfs/proc mounts by a user ns's root, fully visible or not."""

    @guest_op
    def proc_subset_pid_net(self, ctx: NsContext | None = None) -> dict:
        """Item 59: /proc/<pid>/net in a subset=pid proc mounted in a user ns."""

    @guest_op
    def proc_pidns_option(self, ctx: NsContext | None = None) -> dict:
        """Item 60: proc's pidns= option, its errors and reconfiguring it."""

    @guest_op
    def pidfd_get_info(self, ctx: NsContext | None = None) -> dict:
        """Item 61: PIDFD_GET_INFO."""

    @guest_op
    def pidfd_ns_ioctl_args(self, ctx: NsContext | None = None) -> dict:
        """Item 62: PIDFD_GET_<TYPE>_NAMESPACE on our pidfd, and with an argument."""

    @guest_op
    def setns_pidfd_self(self, rounds: int = 12, ctx: NsContext | None = None) -> dict:
        """Item 63: setns(PIDFD_SELF), and setns racing the target's exit."""

    @guest_op
    def pid_max_per_pidns(self, ctx: NsContext | None = None) -> dict:
        """Item 64: kernel.pid_max read and written in child pid namespaces."""

    @guest_op
    def join_empty_pidns(self, ctx: NsContext | None = None) -> dict:
        """Item 65: setns to a pid ns that has no process yet, then fork."""
