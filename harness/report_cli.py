"""`nsharness report diff|merge|html`: compare runs, combine a CI matrix, render a page."""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from .errors import HarnessError
from .report import diff, validate


def load(path: str) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise HarnessError(f"no such report: {path}") from e
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path} is not JSON: {e}") from e
    try:
        validate(doc)
    except Exception as e:  # noqa: BLE001 - jsonschema.ValidationError, shown in one line
        msg = str(e).splitlines()[0]
        raise HarnessError(f"{path} is not an nsharness report: {msg}") from e
    return doc


def cmd_diff(args: argparse.Namespace) -> int:
    d = diff(load(args.base), load(args.new))
    if args.json:
        print(json.dumps(d, indent=1))
    else:
        for section in ("regressions", "fixes", "new", "vanished"):
            print(f"{section}: {len(d[section])}")
            for x in d[section]:
                print(f"  [{x['kernel']}] {x['test']}: {x['base']} -> {x['new']}")
    return 1 if d["regressions"] else 0


def merge(docs: list[dict]) -> dict:
    """One report from several runs of the same suite (a CI matrix): VMs and tests
    concatenated, the run spanning them all."""
    runs = [d["run"] for d in docs]
    run = dict(runs[0])
    run["start"] = min(r["start"] for r in runs)
    run["end"] = max((r["end"] or "") for r in runs) or None
    run["interrupted"] = any(r["interrupted"] for r in runs)
    run["partial"] = any(r.get("partial") for r in runs)
    statuses = [r["exit_status"] for r in runs]
    run["exit_status"] = max((s for s in statuses if s is not None), default=None)
    run["merged_from"] = [f"{r['host']}:{r['start']}" for r in runs]
    seen, tests = set(), []
    for d in docs:
        for t in d["tests"]:
            key = (t["kernel"], t["nodeid"])
            if key in seen:
                raise HarnessError(f"test {t['nodeid']} on {t['kernel']} appears in two reports")
            seen.add(key)
            tests.append(t)
    return {
        "schema_version": docs[0]["schema_version"],
        "run": run,
        "vms": [v for d in docs for v in d["vms"]],
        "tests": tests,
    }


def cmd_merge(args: argparse.Namespace) -> int:
    doc = merge([load(p) for p in args.reports])
    validate(doc)
    Path(args.output).write_text(json.dumps(doc, indent=1))
    print(args.output)
    return 0


COLORS = {"passed": "#2e7d32", "failed": "#c62828", "error": "#6a1b9a", "skipped": "#9e9e9e"}


def render_html(doc: dict) -> str:
    """A self-contained page: scenarios x kernels, counts, expandable failures."""
    e = html.escape
    kernels = sorted({t["kernel"] or "-" for t in doc["tests"]})
    rows: dict[str, dict] = defaultdict(dict)
    areas: dict[str, str] = {}
    for t in doc["tests"]:
        name = t["nodeid"].split("[")[0]
        rows[name][t["kernel"] or "-"] = t
        areas[name] = t.get("area") or "harness"
    counts = {k: Counter(rows[n][k]["outcome"] for n in rows if k in rows[n]) for k in kernels}
    vms = {v["release"]: v for v in doc["vms"]}
    head = "".join(
        f"<th>{e(k)}<div class=sub>{e(vms.get(k, {}).get('accel', ''))} · boot "
        f"{vms.get(k, {}).get('boot_s', '?')} s</div><div class=sub>"
        + " ".join(
            f"<span style='color:{COLORS[o]}'>{n} {o}</span>" for o, n in sorted(counts[k].items())
        )
        + "</div></th>"
        for k in kernels
    )
    body, details = [], []
    for name in sorted(rows, key=lambda n: (areas[n], n)):
        cells = []
        for k in kernels:
            t = rows[name].get(k)
            if t is None:
                cells.append("<td class=na>—</td>")
                continue
            o = t["outcome"]
            anchor = f"f{len(details)}"
            link = ""
            if o in ("failed", "error"):
                link = f" <a href='#{anchor}'>details</a>"
                splats = "".join(
                    f"<pre class=splat>{e(chr(10).join(s.get('lines', [])[:40]))}</pre>"
                    for s in t.get("splats", [])
                )
                details.append(
                    f"<details id={anchor} open><summary><b>{e(name)}</b> on {e(k)}: {o}"
                    f"</summary><p>reproduce: <code>{e(t.get('reproduce') or '')}</code></p>"
                    f"<h4>message</h4><pre>{e(t.get('message') or '')}</pre>{splats}"
                    f"<h4>kernel log during the test</h4>"
                    f"<pre>{e(chr(10).join(t.get('kernel_log', [])[-60:]))}</pre>"
                    f"<h4>console tail</h4><pre>{e(t.get('console_tail') or '')}</pre></details>"
                )
            title = e(t.get("skip_reason") or t.get("message") or "")[:300]
            cells.append(
                f"<td class={o} title='{title}'>{o} <span class=d>"
                f"{t.get('duration_s', 0):.2f}s</span>{link}</td>"
            )
        body.append(
            f"<tr><td class=area>{e(areas[name])}</td><td>{e(name.split('::')[-1])}"
            f"</td>{''.join(cells)}</tr>"
        )
    run = doc["run"]
    status = (
        "INTERRUPTED / PARTIAL"
        if run.get("interrupted") or run.get("partial")
        else f"exit {run.get('exit_status')}"
    )
    style = (
        "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}"
        "th{background:#f3f3f3}.sub{font-weight:normal;font-size:11px}"
        + "".join(f".{o}{{background:{c};color:white}}" for o, c in COLORS.items())
        + ".d{font-size:10px;opacity:.8}.na{color:#aaa}.area{color:#555}"
        "pre{background:#f7f7f7;padding:6px;overflow-x:auto;font-size:12px}"
        ".splat{background:#fff3f3;border-left:4px solid #c62828}td a{color:white}"
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>nsharness report</title>"
        f"<style>{style}</style></head><body><h1>nsharness report</h1>"
        f"<p>{e(run.get('start', ''))} → {e(run.get('end') or '')} on {e(run['host'])}, "
        f"QEMU {e(run['qemu_version'])}, harness {e(run['harness_version'])}: "
        f"<b>{e(status)}</b></p><table><tr><th>area</th><th>scenario</th>{head}</tr>"
        f"{''.join(body)}</table><h2>Failures</h2>"
        f"{''.join(details) or '<p>none</p>'}</body></html>"
    )


def cmd_html(args: argparse.Namespace) -> int:
    Path(args.output).write_text(render_html(load(args.report)))
    print(args.output)
    return 0


def summary_rows(doc_tests: list[dict]) -> dict[str, Counter]:
    per: dict[str, Counter] = defaultdict(Counter)
    for t in doc_tests:
        per[t["kernel"] or "-"][t["outcome"]] += 1
    return per


def print_summary(tests: list[dict], vms: list[dict], paths: list[str], file=sys.stdout) -> None:
    """The compact per-kernel table at the end of a run (rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="nsharness: results per kernel")
    for col in ("kernel", "accel", "boot s", "passed", "failed", "error", "skipped"):
        table.add_column(col, justify="left" if col in ("kernel", "accel") else "right")
    vm_by = {v["release"]: v for v in vms}
    for k, c in sorted(summary_rows(tests).items()):
        v = vm_by.get(k, {})
        table.add_row(
            k,
            v.get("accel", "-"),
            str(v.get("boot_s", "-")),
            f"[green]{c['passed']}",
            f"[red]{c['failed']}" if c["failed"] else "0",
            str(c["error"]),
            str(c["skipped"]),
        )
    con = Console(file=file, width=120)
    con.print(table)
    for p in paths:
        con.print(f"report: {p}")


def add_report_commands(sub) -> None:
    rp = sub.add_parser("report", help="compare, merge and render run reports")
    rs = rp.add_subparsers(dest="rcmd", required=True)
    d = rs.add_parser("diff", help="regressions/fixes/new/vanished; exit 1 if anything regressed")
    d.add_argument("base")
    d.add_argument("new")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_diff)
    m = rs.add_parser("merge", help="merge reports of one suite run on several machines")
    m.add_argument("reports", nargs="+")
    m.add_argument("-o", "--output", required=True)
    m.set_defaults(func=cmd_merge)
    h = rs.add_parser("html", help="a self-contained HTML matrix of a report")
    h.add_argument("report")
    h.add_argument("-o", "--output", required=True)
    h.set_defaults(func=cmd_html)
