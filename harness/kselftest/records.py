"""A program's results as report records (harness/report/model.py).

The program itself is the pytest item's own record (test_id `kselftest/<target>/<program>`);
each subtest is one more record from the same item, test_id
`kselftest/<target>/<program>::<subtest>[::<nested>]`, name = the subtest, area
`kselftest:<target>`. An expected failure (XFAIL) counts as passed, its directive kept in
observations.ktap; a SKIP keeps its reason. A kernel splat while the program ran fails the
program, as the agent fixture fails a scenario.
"""

from __future__ import annotations

from ..report.model import TestRecord
from . import ktap
from .build import Program
from .result import ProgramResult, Verdict

PREFIX = "kselftest"
REPORT_OUTPUT_MAX = 64 * 1024  # characters of raw output a report record keeps
KTAP_OUTCOME = {"xfail": "passed"}  # the report's outcomes have no xfail


def program_test_id(program: Program) -> str:
    return f"{PREFIX}/{program.target}/{program.name}"


def subtest_test_id(path: tuple[str, ...]) -> str:
    """`kselftest/<target>/<program>::<sub>::...`; "[...]" would read as a kernel's id."""
    target, prog, *sub = path
    return f"{PREFIX}/{target}/{prog}" + "".join(
        "::" + s.replace("[", "(").replace("]", ")") for s in sub
    )


def clip(text: str, limit: int = REPORT_OUTPUT_MAX) -> str:
    """Head and tail of a long output (pidfd_test prints 0.5 MB in 135 s under TCG)."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit // 4], text[-(limit - limit // 4) :]
    return f"{head}\n[... {len(text) - len(head) - len(tail)} characters cut ...]\n{tail}"


def judge(result: ProgramResult, splats: list) -> Verdict:
    """The program's verdict, failed by a kernel splat printed while it ran."""
    v = result.verdict()
    if splats and v.outcome in ("passed", "skipped"):
        s = splats[0]
        return Verdict("failed", f"kernel {s.kind} during the program: {s.headline}")
    return v


def message(verdict: Verdict, result: ProgramResult) -> str:
    """The program record's message: the verdict first — for a plain failure with the
    program's last words, which for a program without KTAP name the check that failed
    (`exit=1: main:72:NS_GET_USERNS returned a wrong namespace`) — then the output's tail."""
    tail = result.output.rstrip("\n").splitlines()[-30:]
    head = verdict.reason or verdict.outcome
    last = next((line.strip() for line in reversed(tail) if line.strip()), "")
    if verdict.outcome == "failed" and last and result.rc not in (None, 0):
        head = f"{head}: {last[:200]}"
    return "\n".join([head, *tail])


def program_observations(result: ProgramResult, source: str) -> dict:
    subs = ktap.counts(result.subtests())
    return {
        "kselftest": {
            "program": result.program.id,
            "source": source,
            "rc": result.rc,
            "timeout_s": result.timeout,
            "timed_out": result.timed_out,
            "duration_s": result.duration_s,
            "subtests": {k: n for k, n in subs.items() if n},
        },
        "output": clip(result.output),
        "output_bytes": len(result.output.encode()),
    }


def _skip_reason(rec: ktap.Record) -> str | None:
    """KTAP's `# SKIP why`, or for a script's "[SKIP]" line the line it printed before."""
    return rec.reason or (rec.diagnostics[-1] if rec.diagnostics else None)


def subtest_records(result: ProgramResult, kernel: str | None, kernel_key: str | None):
    """One TestRecord per subtest of the program (none for a program without subtests)."""
    out: list[TestRecord] = []
    for rec in result.subtests():
        test_id = subtest_test_id(rec.path)
        bad = rec.outcome in ("failed", "error")
        out.append(
            TestRecord(
                test_id=test_id,
                nodeid=f"{test_id}[{kernel}]" if kernel else test_id,
                name=rec.path[-1],
                kernel=kernel,
                kernel_key=kernel_key,
                outcome=KTAP_OUTCOME.get(rec.outcome, rec.outcome),
                area=f"{PREFIX}:{rec.path[0]}",
                error_kind="timeout" if rec.directive == "TIMEOUT" else None,
                skip_reason=_skip_reason(rec) if rec.outcome == "skipped" else None,
                message=(
                    "\n".join(filter(None, [rec.reason, *rec.diagnostics[-30:]])) or rec.outcome
                )
                if bad
                else None,
                observations={
                    "ktap": {
                        "outcome": rec.outcome,
                        "directive": rec.directive,
                        "number": rec.number,
                        "reason": rec.reason,
                    }
                },
            )
        )
    return out
