"""The typed guest operations a test calls through the `agent` fixture, one group per area
of the behaviour catalogue; every method mirrors one op of the guest registry."""

from __future__ import annotations

from ...vm.agent import CHILD, NsContext
from .core import CoreOps, Link, ShResult
from .devices import DevicesOps
from .lifetime import LifetimeOps
from .mntns import MntnsOps
from .netns_links import NetnsLinksOps
from .nstree import NstreeOps
from .pidns import PidnsOps
from .setns import SetnsOps
from .sockets import SocketsOps
from .sysfs import SysfsOps


class Agent(
    CoreOps,
    SysfsOps,
    SetnsOps,
    LifetimeOps,
    SocketsOps,
    DevicesOps,
    NstreeOps,
    NetnsLinksOps,
    PidnsOps,
    MntnsOps,
):
    """Every typed guest op (see the area modules): what the `agent` fixture yields."""


#: The name of nsharness 0.1 (deprecated).
Guest = Agent

__all__ = ["CHILD", "Agent", "Guest", "Link", "NsContext", "ShResult"]
