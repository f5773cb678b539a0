"""Typed ops of the lifetime area: catalogue items 19-24 and v4 (nsfs identity, keeping
namespaces alive, destruction, nsfs ioctls).

Each method mirrors a guest op of the same name and parameters (harness/guest/probes_lifetime*.py)
and is declared with @guest_op: its body is never run.
"""

from __future__ import annotations

from .base import OpsBase


class LifetimeOps(OpsBase):
    pass
