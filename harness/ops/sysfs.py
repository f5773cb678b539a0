"""Typed ops of the sysfs area: catalogue items 1-10 and v2 (sysfs views, uevents on move).

Each method mirrors a guest op of the same name and parameters (harness/guest/probes_sysfs*.py)
and is declared with @guest_op: its body is never run.
"""

from __future__ import annotations

from .base import OpsBase


class SysfsOps(OpsBase):
    pass
