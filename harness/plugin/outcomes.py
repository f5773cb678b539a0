"""nsharness's own outcomes in pytest's terms. A test that could not be judged (NotJudged:
a witness it needs disagreed) and a behaviour broken as a known kernel regression
(KernelFinding) are neither passes nor plain failures: the report records them as
`not-judged` / `kernel-finding`, the terminal counts them apart, JUnit shows them as
skipped with their reason and an `nsharness.outcome` property, and the run's exit status
stays non-zero for them — except for kernel findings listed in `--known-findings FILE`,
which are still reported, counted and coloured, but do not fail the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..errors import InputError
from ..scenario.verdict import KernelFinding, NotJudged

#: The pytest report attribute carrying our outcome (read by the collector).
ATTR = "nsh_outcome"
KNOWN = pytest.StashKey[frozenset]()


def read_known(path: str | None) -> frozenset:
    """Finding ids, one per line ('#' starts a comment), from a --known-findings file."""
    if not path:
        return frozenset()
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"--known-findings {path}: {e.strerror or e}") from None
    ids = {line.split("#", 1)[0].strip() for line in text.splitlines()}
    return frozenset(i for i in ids if i)


def translate(item: pytest.Item, call: pytest.CallInfo, rep: pytest.TestReport) -> None:
    """Give *rep* our outcome when the test ended in NotJudged or KernelFinding."""
    exc = call.excinfo.value if call.excinfo else None
    if rep.when != "call" or not isinstance(exc, (NotJudged, KernelFinding)):
        return
    if isinstance(exc, NotJudged):
        outcome, reason, skip = "not-judged", str(exc), True
    else:
        outcome, reason = "kernel-finding", str(exc)
        skip = exc.finding in item.config.stash.get(KNOWN, frozenset())
    setattr(rep, ATTR, outcome)
    rep.nsh_text = str(rep.longrepr)[-3000:]
    item.user_properties.append(("nsharness.outcome", outcome))  # (JUnit reads teardown's)
    if skip:  # JUnit and pytest's counts: skipped, with the reason first
        _, line, _ = item.location
        rep.outcome = "skipped"
        rep.longrepr = (str(item.path), (line or 0) + 1, f"{outcome}: {reason.splitlines()[0]}")


def teststatus(report) -> tuple[str, str, tuple[str, dict]] | None:
    outcome = getattr(report, ATTR, None)
    if outcome == "not-judged":
        return "not judged", "J", ("NOT JUDGED", {"yellow": True})
    if outcome == "kernel-finding":
        known = report.outcome == "skipped"
        word = "KNOWN KERNEL FINDING" if known else "KERNEL FINDING"
        return "kernel finding", "K", (word, {"purple": True})
    return None


def exit_status(session: pytest.Session, records) -> None:
    """A run with a not-judged test exits 1, however pytest counted it (as skipped)."""
    if session.exitstatus == pytest.ExitCode.OK and any(r.outcome == "not-judged" for r in records):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
