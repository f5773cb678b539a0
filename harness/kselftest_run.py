"""`python -m harness.kselftest_run`: kselftests on one kernel, written as a run report.

A stand-alone driver of harness/kselftest.py for CI and for trying it out, until `nsharness
run --kselftest SPEC` exists: resolve the kernel, build the targets from its own source,
boot one guest, install, run each program, and write OUT/report.json (the report schema,
so `nsharness report merge|html|diff` and harness/kcidb.py take it) plus each program's raw
output under OUT/kselftest/. A guest that dies mid-program is rebooted for the next one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import image, kernel, keys, kselftest, ktap, qemu, report
from .errors import HarnessError
from .machine import Machine, MachineOptions


def _vm(m: Machine) -> dict:
    k, r = m.kernel, m.record
    assert r is not None
    return {
        "release": r.release,
        "spec": r.spec,
        "accel": r.accel,
        "accel_reason": r.accel_reason,
        "boot_s": r.boot_s,
        "ssh_s": r.ssh_s,
        "boots": m.boots,
        "console_log": r.console_log,
        "cmdline": r.cmdline,
        "kernel_path": str(k.image),
        "kernel_version": k.version,
        "kernel_identity": k.identity,
        "config_hash": k.config_hash,
        "modules": str(k.modules) if k.modules else None,
        "image_hash": m.image.hash,
    }


def run(args: argparse.Namespace, argv: list[str]) -> int:
    specs = kselftest.parse_spec(args.kselftest)  # a bad spec fails before any download
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "schema_version": 1,
        "run": report.run_info(["python -m harness.kselftest_run", *argv], qemu.qemu_version()),
        "vms": [],
        "tests": [],
    }
    if args.kernel_src and not args.kernel:
        from .build import build as build_kernel

        k = build_kernel(args.kernel_src)  # the tree's kernel, tests from the same tree
    else:
        k = kernel.resolve(args.kernel)
    source = kselftest.source_for(k, args.kernel_src)
    t0 = time.monotonic()
    tree = kselftest.build(source, specs)
    for bt in tree.targets:
        how = "cached" if bt.cached else f"built in {bt.build_s:.1f} s"
        miss = f", did not build: {', '.join(bt.missing)}" if bt.missing else ""
        print(f"kselftest {bt.target}: {len(bt.programs)} programs, {how}{miss}")
    print(f"kselftest source {source.identity} ready in {time.monotonic() - t0:.1f} s")
    opts = MachineOptions(accel=qemu.choose_accel(args.accel), console_dir=out / "consoles")
    img, ks = image.ensure(), keys.installation_keys()
    m: Machine | None = None
    worst = 0
    try:
        for prog in tree.selected:
            if m is None:
                m = Machine(k, img, ks, opts).start()
                doc["vms"].append(_vm(m))
                kselftest.install(m, tree)
            limit = None if args.timeout_scale == 1 else round(prog.timeout * args.timeout_scale)
            res = kselftest.run_program(m, prog, timeout=limit)
            raw = out / "kselftest" / prog.target / f"{prog.name}.out"
            raw.parent.mkdir(parents=True, exist_ok=True)
            raw.write_text(res.output)
            tests = kselftest.report_tests(res, k.release)
            doc["tests"] += tests
            counts = ktap.counts(res.records()[1:])
            subs = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
            head = tests[0]
            print(
                f"{prog.id:45s} {head['outcome']:8s} {res.duration_s:7.1f} s"
                + (f"  ({subs})" if subs else "")
                + (f"  {res.records()[0].reason}" if res.records()[0].reason else "")
            )
            if any(t["outcome"] in ("failed", "error") for t in tests):
                worst = 1
            if res.guest_died:
                m.close()
                m = None
    finally:
        if m is not None:
            m.close()
        doc["run"]["end"] = report.now()
        doc["run"]["exit_status"] = worst
        path = out / "report.json"
        path.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"report: {path}")
    return worst


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m harness.kselftest_run", description=__doc__)
    ap.add_argument("--kernel", default=None, help="kernel spec (default debian:6.12)")
    ap.add_argument(
        "--kernel-src", type=Path, help="kernel source tree: built and booted unless --kernel"
    )
    ap.add_argument("--kselftest", required=True, help="targets, e.g. nsfs,pidfd,net:veth.sh")
    ap.add_argument("--out", type=Path, default=Path("nsharness-out/kselftest"))
    ap.add_argument("--accel", default="auto", choices=("auto", "kvm", "tcg"))
    ap.add_argument(
        "--timeout-scale",
        type=float,
        default=1.0,
        help="multiply each target's timeout (TCG runs some programs past kselftest's 45 s)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        return run(args, argv)
    except HarnessError as e:
        print(f"nsharness: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
