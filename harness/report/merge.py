"""One merge for every way reports come in parts: xdist workers and a CI matrix."""

from __future__ import annotations

from ..errors import InputError
from .model import Report, RunInfo


def merge(reports: list[Report], *, names: list[str] | None = None) -> Report:
    """One report from several runs: VMs and tests concatenated, the run spanning them all.

    The same test on the same kernel in two parts is an error: a merge must not silently
    pick one verdict over another."""
    if not reports:
        raise InputError("nothing to merge")
    runs = [r.run for r in reports]
    first = runs[0]
    statuses = [r.exit_status for r in runs if r.exit_status is not None]
    run = RunInfo(
        **{
            **first.__dict__,
            "start": min(r.start for r in runs),
            "end": max((r.end or "") for r in runs) or None,
            "interrupted": any(r.interrupted for r in runs),
            "partial": any(r.partial for r in runs),
            "exit_status": max(statuses) if statuses else None,
            "error": "; ".join(r.error for r in runs if r.error) or None,
            "merged_from": [f"{r.host}:{r.start}" for r in runs] if len(runs) > 1 else [],
        }
    )
    seen: dict[tuple[str | None, str], str] = {}
    tests = []
    for i, rep in enumerate(reports):
        where = names[i] if names else f"part {i + 1}"
        for t in rep.tests:
            key = (t.kernel_key, t.test_id)
            if key in seen:
                raise InputError(
                    f"test {t.test_id} on {t.kernel} is in both {seen[key]} and {where}"
                )
            seen[key] = where
            tests.append(t)
    vms: dict[str, object] = {}
    for rep in reports:
        for v in rep.vms:
            vms.setdefault(v.kernel_key, v)
    return Report(run, list(vms.values()), tests)
