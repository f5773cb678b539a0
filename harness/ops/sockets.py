"""Typed ops of the sockets area: catalogue items 25-30 (sockets per netns).

Each method mirrors a guest op of the same name and parameters (harness/guest/probes_sockets*.py)
and is declared with @guest_op: its body is never run.
"""

from __future__ import annotations

from .base import OpsBase


class SocketsOps(OpsBase):
    pass
