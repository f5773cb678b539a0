"""A run report as KCIDB I/O data, so KernelCI's database can hold nsharness results.

KCIDB (schema 5.x, validated in tests with the kcidb-io package) links tests to builds
and builds to checkouts. Here a checkout is a kernel *source* (a Debian package version,
or a tree at a commit), a build is one kernel image of it (identity + config hash), and
a test is one report record. Ids are derived from the report's content: exporting the
same report twice gives the same ids, two runs never share a test id, and the same
kernel build in two runs is one build.

Paths: scenarios `nsharness.<area>.<test function>[.<params>]`, kselftests
`kselftest.<target>.<program>.<subtest>...`, each part reduced to KCIDB's [A-Za-z0-9_-].
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

from .errors import HarnessError

ORIGIN = "nsharness"
SCHEMA_VERSION = {"major": 5, "minor": 3}
LOG_EXCERPT_MAX = 16384  # KCIDB's maxLength for log_excerpt
STATUS = {
    "passed": "PASS",
    "failed": "FAIL",
    "skipped": "SKIP",
    "error": "ERROR",
    "xfail": "PASS",  # an expected failure: the tested code behaved as known
}
_PART = re.compile(r"[^A-Za-z0-9_-]+")
_COMMIT = re.compile(r"@([0-9a-f]{40})(-dirty)?\b")


class KcidbError(HarnessError):
    """The report cannot be converted (said in one line)."""


def _id(*parts: object) -> str:
    h = hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:20]
    return f"{ORIGIN}:{h}"


def path_part(text: str) -> str:
    """One KCIDB path component: runs of other characters become '_' (dots too)."""
    return _PART.sub("_", text).strip("_") or "_"


def _bracket(nodeid: str) -> tuple[str, str | None]:
    """'file.py::test_x[veth-6.1.0]' -> ('file.py::test_x', 'veth-6.1.0')."""
    m = re.match(r"^(.*?)\[(.*)\]$", nodeid)
    return (m.group(1), m.group(2)) if m else (nodeid, None)


def test_path(test: dict) -> list[str]:
    """The KCIDB path of a report record, as a list of (unsanitised) parts."""
    area = test.get("area") or ""
    nodeid = test.get("nodeid", "")
    base, bracket = _bracket(nodeid)
    if area.startswith("kselftest:"):
        if test.get("path"):
            target, *rest = test["path"]
        else:  # kselftest/<target>/<program>::<subtest>::...
            head, *rest = base.split("::")
            target, _, prog = head.removeprefix("kselftest/").rpartition("/")
            rest = [prog, *rest]
        return ["kselftest", *target.split("/"), *rest]
    name = test.get("name") or base.rsplit("::", 1)[-1]
    if not area:
        stem = Path(base.split("::", 1)[0]).stem
        area = stem.removeprefix("test_") or "misc"
    kernel = test.get("kernel") or ""
    if isinstance(test.get("params"), dict):
        extra = [str(v) for k, v in test["params"].items() if k != "kernel"]
    elif bracket:
        rest = bracket.replace(kernel, "") if kernel else bracket
        extra = [p for p in rest.split("-") if p] if rest.strip("-") else []
    else:
        extra = []
    if extra:
        name = f"{name}-{'-'.join(extra)}"
    return ["nsharness", area, name]


def _kernel_key(vm: dict) -> str:
    return vm.get("kernel_id") or vm.get("kernel_identity") or vm.get("release", "")


def _checkout(vm: dict) -> dict:
    ident = vm.get("kernel_identity") or vm.get("spec") or vm.get("release", "unknown")
    source = ident.split(" (", 1)[0]
    co: dict = {
        "id": _id("checkout", source),
        "origin": ORIGIN,
        "tree_name": "debian" if source.startswith("debian:") else "local",
        "comment": f"kernel source of {ident}",
        "valid": True,
        "misc": {"kernel_identity": ident, "spec": vm.get("spec")},
    }
    m = _COMMIT.search(ident)
    if m:
        co["git_commit_hash"] = m.group(1)
        if m.group(2):
            co["misc"]["dirty"] = True
    if source.startswith("debian:"):
        co["git_commit_name"] = source.removeprefix("debian:")
    return co


def _build(vm: dict, checkout_id: str, start: str | None) -> dict:
    b: dict = {
        "id": _id("build", _kernel_key(vm), vm.get("config_hash", "")),
        "checkout_id": checkout_id,
        "origin": ORIGIN,
        "architecture": "x86_64",
        "comment": vm.get("kernel_version") or vm.get("release", ""),
        "status": "PASS",  # the kernel exists and was booted: the build did its job
        "misc": {
            k: vm[k]
            for k in ("release", "config_hash", "image_hash", "kernel_path", "spec")
            if vm.get(k) is not None
        },
    }
    if vm.get("config_hash"):
        b["config_name"] = f"config-{vm['config_hash']}"
    if start:
        b["start_time"] = start
    return b


def to_kcidb(report: dict) -> dict:
    """Convert a run report (harness/data/report.schema.json) to KCIDB I/O data."""
    try:
        run, vms, tests = report["run"], report["vms"], report["tests"]
    except (KeyError, TypeError) as e:
        raise KcidbError(f"not an nsharness report: missing {e}") from None
    start = run.get("start")
    run_key = (run.get("start"), run.get("host"), tuple(run.get("merged_from") or ()))
    checkouts: dict[str, dict] = {}
    builds: dict[str, dict] = {}
    by_kernel: dict[str, dict] = {}  # release or kernel_id -> build
    vm_by_kernel: dict[str, dict] = {}
    for vm in vms:
        co = _checkout(vm)
        checkouts.setdefault(co["id"], co)
        b = _build(vm, co["id"], start)
        builds.setdefault(b["id"], b)
        for key in {vm.get("release"), _kernel_key(vm)} - {None, ""}:
            by_kernel.setdefault(key, builds[b["id"]])
            vm_by_kernel.setdefault(key, vm)
    out_tests: list[dict] = []
    seen: set[str] = set()
    for t in tests:
        key = t.get("kernel_id") or t.get("kernel")
        build = by_kernel.get(key) if key else None
        if build is None:
            continue  # not run on a kernel (or on one the report does not describe)
        vm = vm_by_kernel[key]
        tid = _id("test", *run_key, build["id"], t.get("nodeid"))
        n = 1
        while tid in seen:  # the same nodeid twice in one report (a rerun): keep both
            n += 1
            tid = _id("test", *run_key, build["id"], t.get("nodeid"), n)
        seen.add(tid)
        rec: dict = {
            "id": tid,
            "build_id": build["id"],
            "origin": ORIGIN,
            "path": ".".join(path_part(p) for p in test_path(t)),
            "status": STATUS.get(t.get("outcome", ""), "ERROR"),
            "comment": t.get("nodeid", ""),
            "environment": {
                "comment": f"QEMU {vm.get('accel', '?')}: {vm.get('accel_reason', '')}".strip(),
                "misc": {"host": run.get("host"), "qemu_version": run.get("qemu_version")},
            },
            "misc": {
                k: t[k]
                for k in ("nodeid", "area", "kernel", "reproduce", "skip_reason")
                if t.get(k) is not None
            },
        }
        ktap = (t.get("observations") or {}).get("ktap") or {}
        if ktap.get("outcome") == "xfail" or ktap.get("directive"):
            rec["misc"]["ktap"] = {k: v for k, v in ktap.items() if v is not None}
        if isinstance(t.get("duration_s"), int | float):
            rec["duration"] = float(t["duration_s"])
        if start:
            rec["start_time"] = start
        excerpt = t.get("message") or t.get("skip_reason")
        if excerpt:
            rec["log_excerpt"] = excerpt.replace("\0", "")[-LOG_EXCERPT_MAX:]
        out_tests.append(rec)
    return {
        "version": dict(SCHEMA_VERSION),
        "checkouts": list(checkouts.values()),
        "builds": list(builds.values()),
        "tests": out_tests,
    }


def add_arguments(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `report kcidb`, for a subparser of the CLI or our own parser."""
    ap.add_argument("report", type=Path, help="report.json of a run (or a merged one)")
    ap.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    return ap


def kcidb_main(argv: list[str] | None = None) -> int:
    """`nsharness report kcidb REPORT [-o FILE]`: write KCIDB JSON; errors are one line."""
    ap = argparse.ArgumentParser(prog="nsharness report kcidb", description=__doc__)
    return kcidb_run(add_arguments(ap).parse_args(argv))


def kcidb_run(args: argparse.Namespace) -> int:
    """Run `report kcidb` with parsed arguments (args.report, args.output)."""
    try:
        report = json.loads(args.report.read_text())
        data = to_kcidb(report)
    except OSError as e:
        print(f"nsharness: cannot read {args.report}: {e.strerror}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"nsharness: {args.report} is not JSON: {e}", file=sys.stderr)
        return 2
    except KcidbError as e:
        print(f"nsharness: {args.report}: {e}", file=sys.stderr)
        return 2
    text = json.dumps(data, indent=1) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(kcidb_main())
