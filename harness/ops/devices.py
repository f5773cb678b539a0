"""Typed ops of the devices area: catalogue items 31-37, v1 and v3 (devices across namespaces).

Each method mirrors a guest op of the same name and parameters (harness/guest/probes_devices*.py)
and is declared with @guest_op: its body is never run.
"""

from __future__ import annotations

from .base import OpsBase


class DevicesOps(OpsBase):
    pass
