"""Typed ops of the setns area: catalogue items 11-18 (setns rules).

Each method mirrors a guest op of the same name and parameters
(guest/probes_setns_rules.py, probes_setns_joins.py) and is declared with @guest_op: its
body is never run. A guest op that could not set its scene raises SetupError there, which
the agent's channel turns into a SetupStepFailed naming the step: a setup error, never a
verdict on the behaviour."""

from __future__ import annotations

from ...vm.agent import NsContext
from .base import OpsBase, guest_op


class SetnsOps(OpsBase):
    @guest_op
    def setns_type_and_fd_errors(self, ctx: NsContext | None = None) -> dict:
        """Item 11: mismatched nstype, non-namespace and bad fds; matching joins as controls."""

    @guest_op
    def setns_net_caps(self, ctx: NsContext | None = None) -> dict:
        """Item 12: setns(netns) by callers with and without CAP_SYS_ADMIN over the target's
        owner user ns and in their own."""

    @guest_op
    def pidfd_setns_rules(
        self, parts: list[str], with_time: bool = True, ctx: NsContext | None = None
    ) -> dict:
        """Item 13: setns(pidfd, flags): bad flags, exited process, all-or-nothing."""

    @guest_op
    def setns_per_thread(self, ctx: NsContext | None = None) -> dict:
        """Item 14: two threads switch to two netns; the main thread stays."""

    @guest_op
    def setns_mnt_rules(self, ctx: NsContext | None = None) -> dict:
        """Item 15: joining a mount ns (threads, CLONE_FS, CAP_SYS_CHROOT)."""

    @guest_op
    def setns_user_rules(self, ctx: NsContext | None = None) -> dict:
        """Item 16: joining a user ns (own, threaded, without CAP_SYS_ADMIN in it)."""

    @guest_op
    def setns_pid_rules(self, ctx: NsContext | None = None) -> dict:
        """Item 17: joining a pid ns changes pid_for_children only."""

    @guest_op
    def setns_time_rules(self, offset_s: int = 100000, ctx: NsContext | None = None) -> dict:
        """Item 18: joining a time ns moves the clocks at once; threads -> EUSERS."""
