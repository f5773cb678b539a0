"""Behaviours x kernels: which catalogued behaviour each kernel showed, read from a run.

Coverage is not claimed, it is computed: each test declares the catalogue items it
observes (`@pytest.mark.behaviour(11, 13)`), and a cell is `failed` if any of its tests
failed or errored, `observed` if one passed, `skipped` (with the reasons) if all were
skipped, and `not covered` if no test on that kernel declares the item.
"""

from __future__ import annotations

import json
from functools import cache

from ..host.resources import data

STATUSES = ("observed", "failed", "skipped", "not covered")


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
            outcomes = {t["outcome"] for t in tests}
            if not tests:
                status = "not covered"
            elif outcomes & {"failed", "error"}:
                status = "failed"
            elif "passed" in outcomes:
                status = "observed"
            else:
                status = "skipped"
            cell = {"status": status, "tests": sorted({t["test_id"] for t in tests})}
            if status == "skipped":
                cell["reason"] = "; ".join(sorted({t.get("skip_reason") or "" for t in tests}))
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
