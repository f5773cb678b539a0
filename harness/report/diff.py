"""What changed between two runs: tests paired by test id, kernels paired by identity.

A test is its `test_id` — the node id without the kernel part — so parametrized variants
(`[veth]`, `[macvlan]`) are compared one by one. Kernels are paired by identity, then by
label, then by release; two single-kernel reports (the A/B test of a patch: a good build
and a patched build of the same release) pair with each other. `--base-kernel` and
`--new-kernel` pick the columns explicitly, also two columns of one report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import UsageError
from .model import Report, TestRecord

BAD = ("failed", "error")
#: Not a pass, but not a regression of the behaviour either: reported apart.
APART = ("kernel-finding", "not-judged")


@dataclass
class Change:
    test: str
    kernel: str
    base_kernel: str
    base: str | None
    new: str | None
    message: str | None = None


@dataclass
class Diff:
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (base label, new label)
    regressions: list[Change] = field(default_factory=list)
    fixes: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    new: list[Change] = field(default_factory=list)
    vanished: list[Change] = field(default_factory=list)
    findings: list[Change] = field(default_factory=list)  # -> a known kernel regression
    not_judged: list[Change] = field(default_factory=list)  # -> a witness disagreed

    def to_dict(self) -> dict:
        return asdict(self)


def _find(report: Report, want: str, side: str) -> str:
    kernels = report.kernels()
    hits = [k for k, lbl in kernels.items() if want in (k, lbl) or k.startswith(want)]
    if len(hits) != 1:
        offered = ", ".join(f"{lbl} ({k})" for k, lbl in kernels.items()) or "none"
        raise UsageError(f"--{side}-kernel {want!r} matches {len(hits)} kernels (have: {offered})")
    return hits[0]


def pair_kernels(base: Report, new: Report) -> list[tuple[str, str]]:
    """(base key, new key) pairs: same identity, else same label, else the only ones."""
    b, n = base.kernels(), new.kernels()
    release = {v.kernel_key: v.release for r in (base, new) for v in r.vms}
    pairs, used = [], set()
    for match in (
        lambda bk, nk: bk == nk,
        lambda bk, nk: b[bk] == n[nk],
        lambda bk, nk: release.get(bk, b[bk]) == release.get(nk, n[nk]),
    ):
        for nk in n:
            if any(nk == p[1] for p in pairs):
                continue
            cands = [bk for bk in b if bk not in used and match(bk, nk)]
            if len(cands) == 1:
                pairs.append((cands[0], nk))
                used.add(cands[0])
    if not pairs and len(b) == 1 and len(n) == 1:
        pairs.append((next(iter(b)), next(iter(n))))
    return pairs


def _first_line(t: TestRecord | None) -> str | None:
    if t is None or not t.message:
        return None
    return t.message.strip().splitlines()[0][:300]


def diff(
    base: Report, new: Report, base_kernel: str | None = None, new_kernel: str | None = None
) -> Diff:
    if base_kernel or new_kernel:
        if not (base_kernel and new_kernel):
            raise UsageError("give both --base-kernel and --new-kernel, or neither")
        pairs = [(_find(base, base_kernel, "base"), _find(new, new_kernel, "new"))]
    else:
        pairs = pair_kernels(base, new)
    out = Diff(pairs=[(base.kernels()[bk], new.kernels()[nk]) for bk, nk in pairs])
    for bk, nk in pairs:
        b = {t.test_id: t for t in base.tests if t.kernel_key == bk}
        n = {t.test_id: t for t in new.tests if t.kernel_key == nk}
        for tid in sorted(set(b) | set(n)):
            bt, nt = b.get(tid), n.get(tid)
            c = Change(
                tid,
                new.kernels()[nk],
                base.kernels()[bk],
                bt.outcome if bt else None,
                nt.outcome if nt else None,
                _first_line(nt),
            )
            if bt is None:
                out.new.append(c)
            elif nt is None:
                out.vanished.append(c)
            elif bt.outcome == nt.outcome:
                continue
            elif nt.outcome in APART:
                (out.findings if nt.outcome == "kernel-finding" else out.not_judged).append(c)
            elif bt.outcome not in BAD and nt.outcome in BAD:
                out.regressions.append(c)
            elif bt.outcome in BAD + APART and nt.outcome not in BAD:
                out.fixes.append(c)
            elif bt.outcome != nt.outcome:
                out.changed.append(c)
    if not pairs:
        for t in new.tests:
            out.new.append(Change(t.test_id, t.kernel or "-", "-", None, t.outcome))
        for t in base.tests:
            out.vanished.append(Change(t.test_id, "-", t.kernel or "-", t.outcome, None))
    return out
