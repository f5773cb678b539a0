"""Typed ops of the setns area: catalogue items 11-18 (setns rules).

Each method mirrors a guest op of the same name and parameters (harness/guest/probes_setns*.py)
and is declared with @guest_op: its body is never run.
"""

from __future__ import annotations

from .base import OpsBase


class SetnsOps(OpsBase):
    pass
