"""Behaviours x kernels: which catalogued behaviour each kernel showed, read from a run.

Coverage is not claimed, it is computed: each test declares the catalogue items it
observes (`@pytest.mark.behaviour(11, 13)`), and a cell says what its tests' outcomes
mean for the behaviour, the worst first: `failed` (a test saw it break), `kernel finding`
(it broke as a known kernel regression), `not judged` (a witness it needs disagreed: the
blame is that witness's), `error` (a test could not observe it: a setup step, the guest,
the harness — never a verdict), `observed`, `skipped` (with the reasons, decided from the
kernel's version or config), `not covered` (no test on that kernel declares it).
"""

from __future__ import annotations

import json
from functools import cache

from ..host.resources import data

STATUSES = (
    "failed",
    "kernel finding",
    "not judged",
    "error",
    "observed",
    "skipped",
    "not covered",
)
#: A test outcome -> the cell status it makes (worst first, as STATUSES).
STATUS_OF = {
    "failed": "failed",
    "kernel-finding": "kernel finding",
    "not-judged": "not judged",
    "error": "error",
    "passed": "observed",
    "skipped": "skipped",
}


@cache
def catalogue() -> tuple[dict, ...]:
    return tuple(json.loads(data("behaviours.json").read_text())["behaviours"])


def coverage(doc: dict) -> dict:
    """The behaviours section of a report document (plain JSON)."""
    kernels: dict[str, str] = {}
    for v in doc.get("vms", []):
        kernels.setdefault(v["kernel_key"], v["label"])
    for t in doc["tests"]:
        if t.get("kernel_key"):
            kernels.setdefault(t["kernel_key"], t.get("kernel") or t["kernel_key"])
    by_cell: dict[tuple[str, str], list[dict]] = {}
    for t in doc["tests"]:
        for b in t.get("behaviours") or []:
            by_cell.setdefault((str(b), t.get("kernel_key") or "-"), []).append(t)
    cells: dict[str, dict[str, dict]] = {}
    for item in catalogue():
        row = cells[item["id"]] = {}
        for key in kernels:
            tests = by_cell.get((item["id"], key), [])
            found = {STATUS_OF.get(t["outcome"], "error") for t in tests}
            status = next((s for s in STATUSES if s in found), "not covered")
            cell = {"status": status, "tests": sorted({t["test_id"] for t in tests})}
            if status == "skipped":
                cell["reason"] = "; ".join(sorted({t.get("skip_reason") or "" for t in tests}))
            if status == "not judged":
                cell["blocked_by"] = sorted({b for t in tests for b in t.get("blocked_by") or []})
            if status == "kernel finding":
                cell["findings"] = sorted({t["finding"] for t in tests if t.get("finding")})
            row[key] = cell
    summary = {
        key: {s: sum(1 for r in cells.values() if r[key]["status"] == s) for s in STATUSES}
        for key in kernels
    }
    return {
        "catalogue": [dict(i) for i in catalogue()],
        "kernels": [{"key": k, "label": lbl} for k, lbl in kernels.items()],
        "cells": cells,
        "summary": summary,
    }
