"""The `nsharness` command: run the suite, fetch kernels, build the image, open a shell."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import HarnessError, InputError, UsageError
from ..host.resources import scenarios
from ..plugin import options
from . import inputs


def _err(e: HarnessError) -> int:
    msg = str(e)
    print(f"nsharness: error: {msg.splitlines()[0] if msg else 'failed'}", file=sys.stderr)
    rest = msg.splitlines()[1:]
    if rest:
        print("\n".join(rest), file=sys.stderr)
    return e.exit_code


def _check_run_inputs(args: argparse.Namespace) -> None:
    """Everything the run was pointed at, checked before pytest starts (one line each)."""
    if args.modules:
        inputs.existing_dir(args.modules, "--modules")
    for spec in args.kernel or []:
        inputs.kernel_spec(spec, modules=args.modules)
    for src in args.kernel_src or []:
        inputs.source_tree(src)
    if args.keep_console:
        inputs.writable_dir(args.keep_console, "--keep-console")
    inputs.writable_dir(args.out, "--out")
    inputs.report_path(args.report, "--report")


def selection(kselftest: list[str] | None, k: str | None) -> str | None:
    """The pytest -k of a run. Without --kselftest, -k selects scenarios as given. With it,
    the kselftests it names always run (select programs in the spec, not with -k) and
    scenarios run only if -k selects some: `--kselftest nsfs` runs the nsfs selftests
    alone, `--kselftest nsfs -k setns` those and the setns scenarios."""
    if not kselftest:
        return k
    return f"kselftest or ({k})" if k else "kselftest"


def cmd_run(args: argparse.Namespace) -> int:
    """A thin front for pytest: the scenario suite and/or the kernel's selftests, the
    shared options, the reports."""
    import pytest

    suite = Path(args.suite) if args.suite else scenarios()
    if not suite.exists():
        raise InputError(f"scenario suite not found: {suite}")
    if not args.report:
        args.report = str(Path(args.out) / "report.json")
    _check_run_inputs(args)
    argv = [str(suite), "-p", "no:cacheprovider", "--rootdir", str(suite.parent)]
    argv += options.to_pytest_args(args)
    argv += ["--junitxml", str(Path(args.out) / "junit.xml")]
    if args.n:
        argv += ["-n", args.n, "--dist", "loadgroup"]
    k = selection(args.kselftest, args.k)
    if k:
        argv += ["-k", k]
    argv += ["-v"] * args.verbose
    argv += [a for a in args.pytest_args if a != "--"]
    return int(pytest.main(argv))


def cmd_kernel_fetch(args: argparse.Namespace) -> int:
    from ..kernel import resolve

    inputs.kernel_spec(args.spec, "kernel fetch")
    k = resolve(args.spec)
    k.check_config()
    print(f"{k.release}\t{k.identity}\t{k.image}")
    return 0


def cmd_kernel_build(args: argparse.Namespace) -> int:
    from ..kernel.build import build

    src = inputs.source_tree(args.src, "kernel build")
    base = inputs.config_file(args.base_config, "--base-config") if args.base_config else None
    k = build(src, base)
    k.check_config()
    print(f"{k.release}\t{k.identity}\t{k.image}")
    return 0


def cmd_bisect(args: argparse.Namespace) -> int:
    import json

    from .bisect import run

    src = inputs.source_tree(args.kernel_src)
    out = inputs.writable_dir(args.out, "--out")
    res = run(src.resolve(), args.good, args.bad, args.k, args.accel, out.resolve())
    if args.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"first bad commit: {res['first_bad']} {res['subject']}")
        for ev in res["evidence"]:
            print(f"  failed: {ev['test']}\n    reproduce: {ev['reproduce']}")
            print("    " + ev["message"].strip().replace("\n", "\n    ")[:1200])
    return 0


def cmd_bisect_step(args: argparse.Namespace) -> int:
    from .bisect import step

    return step(Path(args.kernel_src).resolve(), args.k, args.accel, Path(args.out), scenarios())


def cmd_image_build(args: argparse.Namespace) -> int:
    from ..image import ensure

    img = ensure(args.recipe, rebuild=args.rebuild)
    print(f"{img.recipe}-{img.hash}\t{img.path}")
    return 0


def cmd_shell(args: argparse.Namespace) -> int:
    from .. import image, kernel
    from ..host.keys import installation_keys
    from ..vm.accel import choose_accel
    from ..vm.interactive import interactive_shell
    from ..vm.machine import Machine
    from ..vm.machineopts import MachineOptions

    if len(args.kernel) > 1:
        raise UsageError("shell boots one kernel: give --kernel once")
    if args.modules:
        inputs.existing_dir(args.modules, "--modules")
    for spec in args.kernel:
        inputs.kernel_spec(spec, modules=args.modules)
    k = kernel.resolve(
        args.kernel[0] if args.kernel else None, Path(args.modules) if args.modules else None
    )
    k.check_config()
    opts = MachineOptions(
        accel=choose_accel(args.accel),
        memory_mb=args.vm_memory,
        smp=args.vm_smp,
        boot_timeout=args.boot_timeout,
    )
    with Machine(k, image.ensure(args.image), installation_keys(), opts) as m:
        print(
            f"nsharness: {k.release} ready in {m.record.ready_s:.1f}s ({m.record.mode}, "
            f"{m.record.accel}); "
            f"console log {m.record.console_log}; exit the shell to power off",
            file=sys.stderr,
        )
        if args.command:
            data = sys.stdin.buffer.read() if args.stdin else None
            r = m.run(" ".join(args.command), timeout=args.timeout, input=data)
            sys.stdout.write(r.stdout)
            sys.stderr.write(r.stderr)
            return r.rc
        return interactive_shell(m.ssh)


def cmd_doctor(args: argparse.Namespace) -> int:
    from ..host.cache import stale_locks
    from ..host.workdirs import stale
    from .doctor import check

    bad = 0
    for f in check():
        mark = "ok " if f.ok else "MISSING"
        print(f"{mark:8} {f.what:24} {f.detail}")
        if not f.ok and f.fix:
            print(f"{'':8} {'':24} fix: {f.fix}")
            bad += 1
    leftovers = [*stale(), *stale_locks()]
    for p in leftovers:
        print(f"{'stale':8} {'left by a killed run':24} {p}")
    if leftovers and args.clean:
        import shutil

        for p in leftovers:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        print(f"removed {len(leftovers)} leftovers")
    elif leftovers:
        print(f"{'':8} {'':24} fix: nsharness doctor --clean")
    return 1 if bad else 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and the hint where help is)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nsharness", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    r = sub.add_parser(
        "run", help="run the namespace scenario suite (and/or kernel selftests) on real kernels"
    )
    options.add_to_argparse(r)
    r.add_argument(
        "-n",
        default=None,
        metavar="N|auto",
        help="parallel workers (pytest-xdist): each boots its own kernels' VMs",
    )
    r.add_argument("--out", default="nsharness-out", help="output directory for reports")
    r.add_argument(
        "-k",
        default=None,
        help="only scenarios matching this pytest -k expression (with --kselftest: the "
        "scenarios to run beside the selftests; none without -k)",
    )
    r.add_argument(
        "-v", "--verbose", action="count", default=0, help="boot phases and guest ops, timed"
    )
    r.add_argument("--suite", default=None, help=argparse.SUPPRESS)
    r.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    r.set_defaults(func=cmd_run)

    k = sub.add_parser("kernel", help="kernels").add_subparsers(dest="kcmd", required=True)
    kf = k.add_parser("fetch", help="fetch and check a kernel (debian:6.1, debian:6.12, path)")
    kf.add_argument("spec")
    kf.set_defaults(func=cmd_kernel_fetch)
    kb = k.add_parser("build", help="configure (tinyconfig + our fragment) and build a tree")
    kb.add_argument("src")
    kb.add_argument("--base-config", default=None, help="start from this config, not tinyconfig")
    kb.set_defaults(func=cmd_kernel_build)

    b = sub.add_parser("bisect", help="git bisect a kernel tree with the scenario suite as judge")
    b.add_argument("--good", required=True)
    b.add_argument("--bad", required=True)
    b.add_argument("--kernel-src", required=True)
    b.add_argument("-k", required=True, help="pytest -k expression selecting the scenarios")
    b.add_argument("--accel", default="auto", choices=("auto", "kvm", "tcg"))
    b.add_argument("--out", default="nsharness-bisect")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_bisect)
    bs = sub.add_parser("bisect-step")  # what `git bisect run` calls: hidden from --help
    bs.add_argument("--kernel-src", required=True)
    bs.add_argument("-k", required=True)
    bs.add_argument("--accel", default="auto")
    bs.add_argument("--out", required=True)
    bs.set_defaults(func=cmd_bisect_step)

    i = sub.add_parser("image", help="guest image").add_subparsers(dest="icmd", required=True)
    ib = i.add_parser("build", help="build (or reuse) the guest image")
    ib.add_argument("--recipe", default="bookworm")
    ib.add_argument("--rebuild", action="store_true")
    ib.set_defaults(func=cmd_image_build)

    s = sub.add_parser("shell", help="boot a fresh VM and open a shell in it")
    options.add_to_argparse(
        s,
        only=(
            "--kernel",
            "--modules",
            "--accel",
            "--vm-memory",
            "--vm-smp",
            "--boot-timeout",
            "--image",
        ),
    )
    s.add_argument("--timeout", type=float, default=600)
    s.add_argument(
        "-i",
        "--stdin",
        action="store_true",
        help="feed this process's standard input to the command (e.g. -i -- python3 - < x.py)",
    )
    s.add_argument("command", nargs="*", help="run this instead of an interactive shell")
    s.set_defaults(func=cmd_shell)

    d = sub.add_parser("doctor", help="what is missing on this host, and how to install it")
    d.add_argument("--clean", action="store_true", help="remove what killed runs left behind")
    d.set_defaults(func=cmd_doctor)

    from .report import add_report_commands

    add_report_commands(sub)

    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as e:
        return _err(e)
    except KeyboardInterrupt:
        print("nsharness: interrupted", file=sys.stderr)
        return 130
