"""The one registry of guest operations: a function becomes callable from the host by
decorating it with @op. The host's typed methods (harness/ops/) mirror this
registry, and a unit test checks the two agree name by name and parameter by parameter."""

from __future__ import annotations

OPS: dict = {}


class SetupError(Exception):
    """A step that only sets the scene failed: "<step>: <what happened>". The host reports
    it as a setup error naming the step, never as a verdict on the behaviour under test."""


def op(fn):
    if fn.__name__ in OPS:
        raise RuntimeError(f"guest op {fn.__name__} registered twice")
    OPS[fn.__name__] = fn
    return fn
