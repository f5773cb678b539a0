"""The compact per-kernel table printed at the end of a run (rich, markup-safe)."""

from __future__ import annotations

import sys
from collections import Counter

from .model import Report


def print_summary(rep: Report, paths: list[str], file=None) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="nsharness: results per kernel")
    cols = ("kernel", "accel", "ready s", "passed", "failed", "finding", "not judged", "error")
    for col in (*cols, "skipped", "behaviours"):
        table.add_column(col, justify="left" if col in ("kernel", "accel") else "right")
    vms = {v.kernel_key: v for v in rep.vms}
    summary = rep.to_dict()["behaviours"]["summary"]
    for key, label in rep.kernels().items():
        c = Counter(t.outcome for t in rep.tests if t.kernel_key == key)
        v = vms.get(key)
        b = summary.get(key, {})
        table.add_row(
            Text(label),  # Text, not markup: a release like "6.1[/x]" must print as is
            Text(v.accel if v else "-"),
            Text(f"{v.ready_s} ({v.mode})" if v else "-"),
            Text(str(c["passed"]), style="green"),
            Text(str(c["failed"]), style="red" if c["failed"] else ""),
            Text(str(c["kernel-finding"]), style="dark_orange" if c["kernel-finding"] else ""),
            Text(str(c["not-judged"]), style="yellow" if c["not-judged"] else ""),
            Text(str(c["error"])),
            Text(str(c["skipped"])),
            Text(
                f"{b.get('observed', 0)} observed, {b.get('failed', 0)} failed"
                + "".join(
                    f", {b[s]} {s}" for s in ("kernel finding", "not judged", "error") if b.get(s)
                )
            ),
        )
    con = Console(file=file or sys.stdout, width=120)
    con.print(table)
    if rep.run.error:
        con.print(Text(f"session error: {rep.run.error}", style="bold red"))
    for p in paths:
        con.print(Text(f"report: {p}"))
