"""Several verdicts per test, reported together: a kernel developer whose patch broke
three expectations of one behaviour sees all three in one message, each naming the call
and both sides (harness.verdict builds the sentences)."""

from harness.verdict import BehaviourChanged, SetupStepFailed, check, expect, expect_errno


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
        if self.messages:
            lines = "\n".join(f"- {m}" for m in self.messages)
            raise BehaviourChanged(f"{len(self.messages)} findings:\n{lines}")


def record(r: dict, case: str) -> dict:
    """A guest child's record, or a setup error naming *case* if that child raised."""
    if isinstance(r, dict) and "exception" in r:
        raise SetupStepFailed(case, r["exception"])
    return r
