"""Typed ops of the sysfs area: catalogue items 1-10 and v2 (sysfs views, uevents on move).

Each method mirrors a guest op of the same name and parameters
(guest/probes_sysfs_views.py, probes_sysfs_mounts.py, probes_sysfs_moves.py) and is
declared with @guest_op: its body is never run. A guest op that could not set its scene
raises SetupError there, which the agent reports as a SetupStepFailed naming the step: a
setup error, never a verdict on the behaviour."""

from __future__ import annotations

from ...vm.agent import NsContext
from .base import OpsBase, guest_op


class SysfsOps(OpsBase):
    @guest_op
    def sysfs_setns_vs_remount(self, ctx: NsContext | None = None) -> dict:
        """Item 1: /sys after setns(B) alone and after the `ip netns exec` remount, beside
        rtnetlink and /proc/thread-self/net/dev of the same thread."""

    @guest_op
    def sysfs_superblocks(self, ctx: NsContext | None = None) -> dict:
        """Item 2: st_dev and mountinfo of sysfs mounted from init, twice from B, from C."""

    @guest_op
    def sysfs_proc_root_view(self, ctx: NsContext | None = None) -> dict:
        """Item 3: /proc/PID/root/sys/class/net of a holder that remounted sysfs in its
        netns, and of one that did not."""

    @guest_op
    def sysfs_mount_permission(self, ctx: NsContext | None = None) -> dict:
        """Item 4: mount sysfs as root of a user ns that does / does not own the netns."""

    @guest_op
    def sysfs_mount_outlives_netns(self, timeout: float = 5.0, ctx: NsContext | None = None):
        """Item 5: a sysfs mount is all that remains of netns B: does B die, what does the
        mount show?"""

    @guest_op
    def sysfs_move_views_and_uevents(self, ctx: NsContext | None = None) -> dict:
        """Item 6: a move into B seen through uevents (init, B, bystander C), rtnetlink
        events and two sysfs views."""

    @guest_op
    def sysfs_move_uevent_sequences(self, ctx: NsContext | None = None) -> dict:
        """v2: the uevent sequences of a plain move, a move with a free new name and a move
        renamed by the kernel on a name clash."""

    @guest_op
    def sysfs_nic_device_tree(self, nic: str = "eth1", ctx: NsContext | None = None) -> dict:
        """Item 7: the spare NIC moved into B and back: its device tree in both views."""

    @guest_op
    def sysfs_same_name_two_netns(self, ctx: NsContext | None = None) -> dict:
        """Item 8: dummy nshv8 in init and in B, each seen through four interfaces."""

    @guest_op
    def sysfs_attrs_across_move(self, ctx: NsContext | None = None) -> dict:
        """Item 9: attribute owners, writes and tx counters of a dummy moved into a netns
        owned by uid 65534's user ns, and back."""

    @guest_op
    def sysfs_ip_netns_exec(self, name: str, ctx: NsContext | None = None) -> dict:
        """Item 10: mountinfo, class/net and st_dev inside `ip netns exec NAME`."""
