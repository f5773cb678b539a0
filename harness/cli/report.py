"""`nsharness report diff|merge|html|kcidb`: compare runs, combine a CI matrix, render a
page, export for KernelCI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import InputError
from ..report.diff import diff
from ..report.html import render
from ..report.merge import merge
from ..report.model import Report, write_json


def _write_text(path: str, text: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise InputError(f"-o {path} is a directory; give a file name")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.partial")
        tmp.write_text(text)
        tmp.replace(p)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None


def cmd_diff(args: argparse.Namespace) -> int:
    d = diff(Report.load(args.base), Report.load(args.new), args.base_kernel, args.new_kernel)
    if args.json:
        print(json.dumps(d.to_dict(), indent=1))
    else:
        pairs = ", ".join(f"{b} -> {n}" for b, n in d.pairs) or "none (no kernel in common)"
        print(f"kernels compared: {pairs}")
        sections = ("regressions", "findings", "not_judged", "fixes", "changed", "new", "vanished")
        for section in sections:
            items = getattr(d, section)
            print(f"{section.replace('_', ' ')}: {len(items)}")
            for x in items:
                print(f"  [{x.kernel}] {x.test}: {x.base} -> {x.new}")
                if section in ("regressions", "findings", "not_judged") and x.message:
                    print(f"      {x.message}")
    return 1 if d.regressions else 0


def cmd_merge(args: argparse.Namespace) -> int:
    rep = merge([Report.load(p) for p in args.reports], names=list(args.reports))
    out = Path(args.output)
    if out.is_dir():
        raise InputError(f"-o {args.output} is a directory; give a file name")
    try:
        write_json(out, rep.to_dict())
    except OSError as e:
        raise InputError(f"cannot write {args.output}: {e.strerror}") from None
    print(args.output)
    return 0


def cmd_html(args: argparse.Namespace) -> int:
    _write_text(args.output, render(Report.load(args.report)))
    print(args.output)
    return 0


def cmd_kcidb(args: argparse.Namespace) -> int:
    from ..report.kcidb import to_kcidb

    text = json.dumps(to_kcidb(Report.load(args.report)), indent=1) + "\n"
    if args.output:
        _write_text(args.output, text)
        print(args.output)
    else:
        sys.stdout.write(text)
    return 0


def add_report_commands(sub) -> None:
    rp = sub.add_parser("report", help="compare, merge and render run reports")
    rs = rp.add_subparsers(dest="rcmd", required=True)
    d = rs.add_parser("diff", help="regressions/fixes/new/vanished; exit 1 if anything regressed")
    d.add_argument("base")
    d.add_argument("new")
    d.add_argument("--base-kernel", help="the base report's kernel column (label or key)")
    d.add_argument("--new-kernel", help="the new report's kernel column (label or key)")
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
    k = rs.add_parser("kcidb", help="the report as KCIDB JSON (schema 5.3) for KernelCI")
    k.add_argument("report")
    k.add_argument("-o", "--output", help="write here (default: standard output)")
    k.set_defaults(func=cmd_kcidb)
