"""A self-contained HTML page of a report: tests x kernels, behaviours x kernels, failures.

No scripts, no external resources: the page is an artifact a CI dashboard can serve as is.
"""

from __future__ import annotations

import html
from collections import Counter

from .model import NOT_PASSED, Report

COLORS = {
    "passed": "#2e7d32",
    "failed": "#c62828",
    "kernel-finding": "#d84315",
    "kernel finding": "#d84315",
    "not-judged": "#f9a825",
    "not judged": "#f9a825",
    "error": "#6a1b9a",
    "skipped": "#9e9e9e",
    "observed": "#2e7d32",
    "not covered": "#eeeeee",
}
STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;vertical-align:top}"
    "th{background:#f3f3f3}.sub{font-weight:normal;font-size:11px}"
    "th.k{max-width:12em;overflow-wrap:anywhere}td.t{overflow-wrap:anywhere}"
    + "".join(
        f".{o.replace(' ', '-')}{{background:{c};color:{'#555' if o == 'not covered' else '#fff'}}}"
        for o, c in COLORS.items()
    )
    + ".d{font-size:10px;opacity:.8}.na{color:#aaa}.area{color:#555}"
    "pre{background:#f7f7f7;padding:6px;overflow-x:auto;font-size:12px;white-space:pre-wrap}"
    ".splat{background:#fff3f3;border-left:4px solid #c62828}td a{color:white}"
)


def _e(x) -> str:
    return html.escape(str(x if x is not None else ""), quote=True)


def _kernel_heads(rep: Report, kernels: dict[str, str]) -> str:
    vms = {v.kernel_key: v for v in rep.vms}
    counts = {k: Counter(t.outcome for t in rep.tests if t.kernel_key == k) for k in kernels}
    out = []
    for key, label in kernels.items():
        v = vms.get(key)
        sub = (
            f"{_e(v.identity)}<br>{_e(v.accel)} · {_e(v.mode)} in {_e(v.ready_s)} s · "
            f"{v.boots} boot(s), {v.restores} restore(s)"
            if v
            else ""
        )
        tally = " ".join(
            f"<span style='color:{COLORS[o]}'>{n} {o}</span>"
            for o, n in sorted(counts[key].items())
        )
        out.append(
            f"<th class=k>{_e(label)}<div class=sub>{sub}</div><div class=sub>{tally}</div></th>"
        )
    return "".join(out)


def _behaviours(doc: dict, kernels: dict[str, str]) -> str:
    cov = doc.get("behaviours")
    if not cov:
        return ""
    rows = []
    for item in cov["catalogue"]:
        cells = []
        for key in kernels:
            c = cov["cells"][item["id"]].get(key, {"status": "not covered", "tests": []})
            title = _e(c.get("reason") or ", ".join(c["tests"]))
            cls = c["status"].replace(" ", "-")
            cells.append(f"<td class={cls} title='{title}'>{_e(c['status'])}</td>")
        rows.append(
            f"<tr><td>{_e(item['id'])}</td><td class=area>{_e(item['section'])}</td>"
            f"<td>{_e(item['title'])}</td>{''.join(cells)}</tr>"
        )
    head = "".join(f"<th>{_e(lbl)}</th>" for lbl in kernels.values())
    return (
        "<h2>Behaviours</h2><table><tr><th>#</th><th>area</th><th>behaviour</th>"
        f"{head}</tr>{''.join(rows)}</table>"
    )


def render(rep: Report) -> str:
    doc = rep.to_dict()
    kernels = rep.kernels()
    rows: dict[str, dict] = {}
    for t in rep.tests:
        rows.setdefault(t.test_id, {})[t.kernel_key or "-"] = t
    body, details = [], []
    order = sorted(rows, key=lambda tid: (next(iter(rows[tid].values())).area or "~", tid))
    for tid in order:
        cells = []
        for key in kernels:
            t = rows[tid].get(key)
            if t is None:
                cells.append("<td class=na>—</td>")
                continue
            link = ""
            if t.outcome in NOT_PASSED:
                anchor = f"f{len(details)}"
                link = f" <a href='#{anchor}'>details</a>"
                details.append(_detail(anchor, t))
            title = _e((t.skip_reason or t.message or "")[:300])
            cells.append(
                f"<td class={t.outcome} title='{title}'>{t.outcome} "
                f"<span class=d>{t.duration_s:.2f}s</span>{link}</td>"
            )
        area = next(iter(rows[tid].values())).area or "harness"
        body.append(
            f"<tr><td class=area>{_e(area)}</td><td class=t>{_e(tid)}</td>{''.join(cells)}</tr>"
        )
    run = rep.run
    status = (
        "INTERRUPTED / PARTIAL" if run.interrupted or run.partial else f"exit {run.exit_status}"
    )
    error = f"<p><b>session error:</b> {_e(run.error)}</p>" if run.error else ""
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>nsharness report</title>"
        f"<style>{STYLE}</style></head><body><h1>nsharness report</h1>"
        f"<p>{_e(run.start)} → {_e(run.end)} on {_e(run.host)}, QEMU {_e(run.qemu_version)}, "
        f"harness {_e(run.harness_version)}: <b>{_e(status)}</b></p>{error}"
        f"<table><tr><th>area</th><th>test</th>{_kernel_heads(rep, kernels)}</tr>"
        f"{''.join(body)}</table>{_behaviours(doc, kernels)}<h2>Failures</h2>"
        f"{''.join(details) or '<p>none</p>'}</body></html>"
    )


def _detail(anchor: str, t) -> str:
    splats = "".join(
        f"<pre class=splat>{_e(chr(10).join(str(x) for x in s.get('lines', [])[:40]))}</pre>"
        for s in t.splats
    )
    leaks = f"<h4>left behind</h4><pre>{_e(t.leaks)}</pre>" if t.leaks else ""
    return (
        f"<details id={anchor} open><summary><b>{_e(t.test_id)}</b> on {_e(t.kernel)}: "
        f"{_e(t.outcome)}{' (' + _e(t.error_kind) + ')' if t.error_kind else ''}</summary>"
        f"<p>reproduce: <code>{_e(t.reproduce)}</code></p>"
        f"<h4>message</h4><pre>{_e(t.message)}</pre>{splats}{leaks}"
        f"<h4>kernel log during the test</h4>"
        f"<pre>{_e(chr(10).join(str(x) for x in t.kernel_log[-60:]))}</pre>"
        f"<h4>console tail</h4><pre>{_e(t.console_tail)}</pre></details>"
    )
