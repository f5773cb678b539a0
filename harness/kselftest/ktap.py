"""KTAP/TAP output as a tree of results, and that tree as one record per subtest.

Kselftest programs print (K)TAP (Documentation/dev-tools/ktap.rst): a version line, a
plan, `ok`/`not ok` result lines with optional SKIP/XFAIL/TODO/TIMEOUT/ERROR directives,
`#` diagnostics, "Bail out!", and nested tests indented under their parent's result.

Why our own parser and not a maintained one (evaluated 2026-11, on the outputs saved in
tests/data/ktap/):
- tap.py (tappy 3.2.1) is a TAP 13 consumer: indented (nested) result lines come back as
  "unknown", XFAIL is no directive there (only SKIP and TODO: "ok 4 # XFAIL x" is a plain
  pass), diagnostics are loose lines not tied to the result they explain, and a plan that
  was not met (a program killed mid-run) is left for the caller to notice.
- pytap13 0.3.0 (2014) handles only flat TAP 13 with YAML blocks.
- The kernel's own tools/testing/kunit/kunit_parser.py understands KTAP nesting, but it
  is GPL-2.0 (nsharness is MIT), not packaged, and tied to kunit_tool's printer and its
  KUnit-specific expectations (a "KTAP version" header first, kunit's log prefixes).
- pytest-tap writes TAP from pytest; it does not read it.
The format is small; this module follows the spec and is tested on real guest output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

OUTCOMES = ("passed", "failed", "skipped", "xfail", "error")

_VERSION = re.compile(r"^(?:KTAP version \d+|TAP version \d+)\s*$")
_PLAN = re.compile(r"^1\.\.(\d+)\s*(?:#\s*(.*))?$")
_RESULT = re.compile(r"^(not ok|ok)\b(?:\s+(\d+))?(?:\s*-)?\s*([^#]*?)\s*(?:#(.*))?$")
_BAIL = re.compile(r"^Bail out!\s*(.*)$")
_DIRECTIVES = ("SKIP", "TODO", "XFAIL", "XPASS", "TIMEOUT", "ERROR")


@dataclass
class Test:
    """One result line (or, for a block that never got its result line, a placeholder)."""

    number: int | None
    description: str
    ok: bool | None  # None: no result line was printed (the program stopped first)
    directive: str | None = None  # SKIP, TODO, XFAIL, XPASS, TIMEOUT, ERROR
    reason: str = ""  # text after the directive, or the diagnostic data after '#'
    diagnostics: list[str] = field(default_factory=list)  # lines printed before the result
    subtests: Suite | None = None

    @property
    def name(self) -> str:
        return self.description or (str(self.number) if self.number is not None else "?")

    @property
    def outcome(self) -> str:
        if self.ok is None:
            return "error"
        d = self.directive
        if d == "SKIP":
            return "skipped"
        if d == "XFAIL" or (d == "TODO" and not self.ok):
            return "xfail"
        if d in ("TIMEOUT", "ERROR"):
            return "error"
        if self.subtests is not None and self.subtests.problem() and self.ok:
            return "error"
        return "passed" if self.ok else "failed"


@dataclass
class Suite:
    """A (K)TAP block: the tests at one nesting level, with what the block promised."""

    version: str | None = None
    plan: int | None = None
    skip_reason: str | None = None  # "1..0 # SKIP why": the whole block was skipped
    tests: list[Test] = field(default_factory=list)
    bail_out: str | None = None
    trailing: list[str] = field(default_factory=list)  # lines after the last result

    @property
    def is_ktap(self) -> bool:
        return self.version is not None or self.plan is not None or bool(self.tests)

    def problem(self) -> str | None:
        """Why the block is incomplete (bail-out, fewer results than planned), or None."""
        if self.bail_out is not None:
            return f"bailed out: {self.bail_out}" if self.bail_out else "bailed out"
        if self.plan is not None and len(self.tests) < self.plan:
            return f"{len(self.tests)} of {self.plan} planned results"
        return None


@dataclass(frozen=True)
class Record:
    """One (sub)test result, flat, with the path that names it."""

    path: tuple[str, ...]
    outcome: str  # one of OUTCOMES
    reason: str | None
    diagnostics: tuple[str, ...]
    number: int | None = None
    directive: str | None = None

    def to_dict(self) -> dict:
        return {
            "path": list(self.path),
            "outcome": self.outcome,
            "reason": self.reason,
            "diagnostics": list(self.diagnostics),
            "number": self.number,
            "directive": self.directive,
        }


# ------------------------------------------------------------------------ parsing


def _split_directive(text: str | None) -> tuple[str | None, str]:
    """'SKIP no netns' -> ('SKIP', 'no netns'); ' rcode=0' -> (None, 'rcode=0')."""
    if text is None:
        return None, ""
    text = text.strip()
    word = text.split(None, 1)[0] if text else ""
    upper = word.upper().rstrip(":")
    for d in _DIRECTIVES:
        # TAP allows "skip", "Skipped:"; kselftest.h prints "# error".
        if upper == d or (d == "SKIP" and upper.startswith("SKIP")):
            return d, text[len(word) :].strip()
    return None, text


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _kind(body: str) -> str:
    if _VERSION.match(body):
        return "version"
    if _PLAN.match(body):
        return "plan"
    if _RESULT.match(body):
        return "result"
    if _BAIL.match(body):
        return "bail"
    return "other"


class _Parser:
    def __init__(self, text: str):
        lines = text.replace("\r\n", "\n").replace("\t", "        ").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.lines = lines
        self.i = 0
        self.bailed = False

    def block(self, indent: int) -> Suite:
        """Parse lines belonging to a block at *indent* until a shallower structural line."""
        suite = Suite()
        pending: list[str] = []
        nested: Suite | None = None
        while self.i < len(self.lines) and not self.bailed:
            raw = self.lines[self.i]
            ind, body = _indent(raw), raw.strip()
            kind = _kind(body)
            if kind == "other":
                pending.append(body) if body else None
                self.i += 1
                continue
            if ind < indent:
                break  # the parent's result line (or the parent's sibling)
            if ind > indent:
                sub = self.block(ind)
                if nested is not None:  # two nested blocks in a row: the first had no parent
                    suite.tests.append(_orphan(nested, len(suite.tests) + 1, []))
                nested = sub
                continue
            self.i += 1
            if kind == "version":
                if suite.version is not None or suite.tests:
                    # A second version line at our level: a new document (concatenated
                    # output); keep reading into this suite so nothing is lost.
                    pending.append(body)
                else:
                    suite.version = body
            elif kind == "plan":
                m = _PLAN.match(body)
                assert m is not None
                suite.plan = int(m.group(1))
                d, why = _split_directive(m.group(2))
                if d == "SKIP":
                    suite.skip_reason = why
            elif kind == "bail":
                m = _BAIL.match(body)
                assert m is not None
                suite.bail_out = m.group(1).strip()
                self.bailed = True
            else:
                m = _RESULT.match(body)
                assert m is not None
                directive, reason = _split_directive(m.group(4))
                suite.tests.append(
                    Test(
                        number=int(m.group(2)) if m.group(2) else None,
                        description=m.group(3).strip(),
                        ok=m.group(1) == "ok",
                        directive=directive,
                        reason=reason,
                        diagnostics=pending,
                        subtests=nested,
                    )
                )
                pending, nested = [], None
        if nested is not None:
            # A nested block whose parent never printed its result: the program stopped.
            suite.tests.append(_orphan(nested, len(suite.tests) + 1, pending))
            pending = []
        if self.bailed and indent == 0:
            pending += [ln.strip() for ln in self.lines[self.i :] if ln.strip()]
            self.i = len(self.lines)
        suite.trailing = pending
        return suite


def _orphan(nested: Suite, number: int, diagnostics: list[str]) -> Test:
    return Test(
        number=None,
        description=f"<block {number}>",
        ok=None,
        reason="nested results without a result line for their parent",
        diagnostics=diagnostics,
        subtests=nested,
    )


def parse(text: str) -> Suite:
    """Parse a program's (K)TAP output. Never raises: unknown lines become diagnostics."""
    p = _Parser(text)
    top = p.block(0)
    # Lines indented deeper than the first structural line, before any result, were
    # parsed as a nested block of a test that never reported: fine, kept as an orphan.
    return top


# ------------------------------------------------------------------------ flattening


def flatten(suite: Suite, prefix: tuple[str, ...] = ()) -> list[Record]:
    """One record per test, parents before their subtests, paths unique among siblings."""
    out: list[Record] = []
    seen: dict[str, int] = {}
    for t in suite.tests:
        name = t.name
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}#{t.number if t.number is not None else seen[name]}"
        path = (*prefix, name)
        reason = t.reason or None
        if t.subtests is not None and (why := t.subtests.problem()):
            reason = f"{reason}; {why}" if reason else why
        out.append(
            Record(
                path=path,
                outcome=t.outcome,
                reason=reason,
                diagnostics=tuple(t.diagnostics),
                number=t.number,
                directive=t.directive,
            )
        )
        if t.subtests is not None:
            out.extend(flatten(t.subtests, path))
    return out


def counts(records: list[Record]) -> dict[str, int]:
    """Outcome -> number of records, every outcome present (for summaries)."""
    c = dict.fromkeys(OUTCOMES, 0)
    for r in records:
        c[r.outcome] += 1
    return c
