"""What a namespace scenario is written with (the public API of tests, ours and users'):
version and config gates (gates), verdicts that name the behaviour (verdict), namespaces as
a test holds them (netns) and the typed guest operations the `agent` fixture yields (ops)."""

from .gates import kernel_version, needs_config, needs_version
from .verdict import (
    BehaviourChanged,
    Findings,
    KernelFinding,
    NotJudged,
    SetupStepFailed,
    check,
    expect,
    expect_errno,
    expect_in,
    expect_not_in,
)

__all__ = [
    "BehaviourChanged",
    "Findings",
    "KernelFinding",
    "NotJudged",
    "SetupStepFailed",
    "check",
    "expect",
    "expect_errno",
    "expect_in",
    "expect_not_in",
    "kernel_version",
    "needs_config",
    "needs_version",
]
