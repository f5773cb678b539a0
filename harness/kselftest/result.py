"""What one program did in the guest, and how kselftest's runner would judge it.

The program's own verdict follows kselftest's runner (exit 0 pass, 4 skip, 124 timeout,
anything else fail) and turns into an error when the program stopped early (signal,
timeout, guest death, fewer results than planned, bail-out): that verdict names why and
where, so a crash is never silence. Subtests come from its KTAP, or for scripts that print
no KTAP from their "TEST: name [ OK ]" / "PASS: name" lines (script_checks).
"""

from __future__ import annotations

import dataclasses
import re
import signal
from dataclasses import dataclass, field

from . import ktap
from .build import Program

SKIP_RC, TIMEOUT_RC = 4, 124  # kselftest/runner.sh: skip_rc, timeout_rc


@dataclass(frozen=True)
class Verdict:
    """The program's outcome (passed|failed|skipped|error), why, and what kind of error."""

    outcome: str
    reason: str | None = None
    error_kind: str | None = None  # timeout | crash | guest-died | setup-step | harness


@dataclass
class ProgramResult:
    """What one program did in the guest: raw output, exit, timing, kernel log, KTAP."""

    program: Program
    output: str  # stdout and stderr, interleaved as the program wrote them
    rc: int | None  # exit code as a shell reports it (128+N: killed by signal N)
    duration_s: float
    timeout: int
    timed_out: bool = False
    guest_died: str | None = None  # console evidence if the guest crashed meanwhile
    kernel_log: list[str] = field(default_factory=list)
    suite: ktap.Suite = field(default_factory=ktap.Suite)

    def subtests(self) -> list[ktap.Record]:
        """One record per subtest, paths (target, program, subtest, ...)."""
        prefix = (self.program.target, self.program.name)
        subs = ktap.flatten(self.suite, prefix) if self.suite.is_ktap else []
        return subs or script_checks(self.output, prefix)

    def records(self) -> list[ktap.Record]:
        """The program's own record first, then one per subtest."""
        return [self.program_record(), *self.subtests()]

    def program_record(self) -> ktap.Record:
        """The program as kselftest's runner judges it, and why it stopped if it did."""
        v = self.verdict()
        return ktap.Record(
            path=(self.program.target, self.program.name),
            outcome=v.outcome,
            reason=v.reason,
            diagnostics=tuple(self.output.rstrip("\n").splitlines()[-40:]),  # where it stopped
        )

    def verdict(self) -> Verdict:
        s = self.suite
        if s.plan is not None and len(s.tests) < s.plan:
            done = f" after {len(s.tests)} of {s.plan} planned results"
        else:
            done = f" after {len(s.tests)} results" if s.tests else ""
        rc = self.rc
        if not self.program.built:
            return Verdict("error", f"did not build (see {self.program.log})", "setup-step")
        if self.guest_died:
            first = self.guest_died.strip().splitlines()[0] if self.guest_died.strip() else ""
            return Verdict(
                "error", f"guest died while the program ran{done}: {first}", "guest-died"
            )
        if self.timed_out:
            return Verdict("error", f"timed out after {self.timeout} s{done}", "timeout")
        if rc is None:
            return Verdict("error", f"no exit status (the SSH channel closed){done}", "harness")
        if 128 < rc < 128 + 65:
            try:
                name = signal.Signals(rc - 128).name
            except ValueError:
                name = f"signal {rc - 128}"
            return Verdict("error", f"crashed: killed by {name}{done}", "crash")
        if rc == SKIP_RC:
            lines = [ln.strip() for ln in self.output.splitlines() if ln.strip()]
            why = s.skip_reason or _last_skip(s) or (lines[-1] if lines else "")
            return Verdict("skipped", why or "exit 4 (skip)")
        problem = s.problem() if s.is_ktap else None
        if rc == 0:
            return (
                Verdict("error", f"incomplete: {problem}", "crash")
                if problem
                else Verdict("passed")
            )
        return Verdict("failed", f"exit={rc}" + (f"; incomplete: {problem}" if problem else ""))


def _last_skip(suite: ktap.Suite) -> str | None:
    skips = [t.reason for t in suite.tests if t.directive == "SKIP" and t.reason]
    return skips[-1] if skips else None


_SCRIPT_CHECK = (
    # lib.sh's log_test / fib_tests.sh: "    TEST: description          [ OK ]"
    re.compile(r"^\s*TEST:\s+(?P<name>.*?)\s+\[\s*(?P<verdict>OK|FAIL|SKIP|XFAIL)\s*\]\s*$"),
    # rtnetlink.sh, netdevice.sh: "PASS: description", "FAIL: ...", "SKIP: ..."
    re.compile(r"^(?P<verdict>PASS|FAIL|SKIP|XFAIL):\s*(?P<name>.+?)\s*$"),
)
_VERDICTS = {
    "OK": "passed",
    "PASS": "passed",
    "FAIL": "failed",
    "SKIP": "skipped",
    "XFAIL": "xfail",
}


def script_checks(output: str, prefix: tuple[str, ...]) -> list[ktap.Record]:
    """Per-check records from a script that prints no KTAP but one verdict line per check
    (the net scripts' conventions); the lines before a verdict are its diagnostics."""
    out: list[ktap.Record] = []
    seen: dict[str, int] = {}
    pending: list[str] = []
    for line in output.splitlines():
        m = next((r.match(line) for r in _SCRIPT_CHECK if r.match(line)), None)
        if not m:
            if out and not pending and line.startswith("\t") and out[-1].reason is None:
                # lib.sh's log_test prints the failure's message indented under it
                out[-1] = dataclasses.replace(out[-1], reason=line.strip())
            elif line.strip():
                pending.append(line.rstrip())
            continue
        name = m.group("name")
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}#{seen[name]}"
        outcome = _VERDICTS[m.group("verdict")]
        out.append(
            ktap.Record(
                path=(*prefix, name),
                outcome=outcome,
                reason=None,
                diagnostics=tuple(pending[-20:]) if outcome != "passed" else (),
            )
        )
        pending = []
    return out
