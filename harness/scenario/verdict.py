"""How a scenario says what it saw: a broken behaviour named with both sides, or a setup
step that failed (which is not a verdict on the behaviour under test).

A failure must read like "setns(net fd, CLONE_NEWUTS) succeeded; expected EINVAL (nstype
must match the namespace)" — the reader learns which behaviour broke without opening the
test. The report puts this line first, before pytest's source dump.
"""

from __future__ import annotations

from typing import Any

from ..errors import SetupStepFailed

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
    "record",
    "show",
]


class BehaviourChanged(AssertionError):
    """The kernel did not behave as the catalogue says (a real verdict)."""


class KernelFinding(BehaviourChanged):
    """The behaviour broke in exactly the way of a kernel regression the project has
    analysed (`data/kernel-findings.toml`: its id, evidence and where it was reported): still
    not a pass, and counted apart, so CI can treat the listed ones as known
    (`--known-findings FILE`) without hiding them."""

    def __init__(self, finding: str, message: str):
        self.finding = finding
        super().__init__(f"{message} [kernel finding {finding}]")


class NotJudged(Exception):
    """Too few of the witnesses a test needs agree, so its behaviour cannot be judged: neither
    a pass nor a failure of it. *blocked_by* names the behaviours (witness ids) whose views
    disagreed; their own tests carry the blame."""

    def __init__(self, why: str, blocked_by):
        self.why = why
        self.blocked_by = sorted({str(b) for b in blocked_by}, key=lambda b: (len(b), b))
        super().__init__(f"not judged: blocked by behaviour {', '.join(self.blocked_by)}: {why}")


def show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(map(str, value))) + "}"
    return repr(value) if not isinstance(value, str) else value


def check(ok: bool, message: str) -> None:
    """Fail with *message* (which names the behaviour and both sides) unless *ok*."""
    if not ok:
        raise BehaviourChanged(message)


def expect(observed: Any, expected: Any, *, what: str, why: str) -> None:
    """`what` gave `observed`; the catalogue says `expected` because `why`."""
    if observed != expected:
        raise BehaviourChanged(f"{what} gave {show(observed)}; expected {show(expected)} ({why})")


def expect_errno(errno: str | None, expected: str | None, *, call: str, why: str) -> None:
    """For a call that returns an errno name (None = success)."""
    if errno == expected:
        return
    got = "succeeded" if errno is None else f"failed with {errno}"
    want = "success" if expected is None else expected
    raise BehaviourChanged(f"{call} {got}; expected {want} ({why})")


def expect_in(item: Any, collection, *, where: str, why: str) -> None:
    if item not in collection:
        raise BehaviourChanged(f"{item} is missing from {where} ({show(set(collection))}) ({why})")


def expect_not_in(item: Any, collection, *, where: str, why: str) -> None:
    if item in collection:
        raise BehaviourChanged(f"{item} is still in {where} ({why})")


class Findings:
    """Collect verdicts; done() raises one BehaviourChanged listing every broken one."""

    def __init__(self):
        self.messages: list[str] = []

    def run(self, fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except BehaviourChanged as e:
            self.messages.append(str(e))
            return None

    def check(self, ok: bool, message: str) -> None:
        self.run(check, ok, message)

    def expect(self, observed, expected, *, what: str, why: str) -> None:
        self.run(expect, observed, expected, what=what, why=why)

    def errno(self, errno, expected, *, call: str, why: str) -> None:
        self.run(expect_errno, errno, expected, call=call, why=why)

    def done(self) -> None:
        if len(self.messages) == 1:
            raise BehaviourChanged(self.messages[0])
        if self.messages:  # the first line names the behaviour, like a single finding's
            first, rest = self.messages[0], self.messages[1:]
            lines = "\n".join(f"- {m}" for m in rest)
            raise BehaviourChanged(f"{first}\n(and {len(rest)} more findings:)\n{lines}")


def record(r: dict, case: str) -> dict:
    """A guest child's record, or a setup error naming *case* if that child raised."""
    if isinstance(r, dict) and "exception" in r:
        raise SetupStepFailed(case, r["exception"])
    return r
