"""A run report as KCIDB I/O data (schema 5.3), so KernelCI's database can hold our results.

KCIDB links tests to builds and builds to checkouts. Here a checkout is a kernel *source*
(a Debian upload, or a tree at a commit: VmRecord.provenance), a build is one kernel
(kernel_key: image, modules and config), and a test is one report record, mapped to its
build by kernel_key. Ids are derived from content: exporting the same report twice gives
the same ids, two runs never share a test id, and one kernel in two runs is one build.

Paths: scenarios `nsharness.<area>.<test>[-<params>]`, kselftests
`kselftest.<target>.<program>.<subtest>...`, each part reduced to KCIDB's [A-Za-z0-9_-].
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

from .model import Report, TestRecord, VmRecord

ORIGIN = "nsharness"
SCHEMA_VERSION = {"major": 5, "minor": 3}
LOG_EXCERPT_MAX = 16384  # KCIDB's maxLength for log_excerpt
STATUS = {
    "passed": "PASS",
    "failed": "FAIL",
    "kernel-finding": "FAIL",
    "not-judged": "ERROR",
    "skipped": "SKIP",
    "error": "ERROR",
}
_PART = re.compile(r"[^A-Za-z0-9_-]+")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
KSELFTEST = "kselftest"


def _id(*parts: object) -> str:
    h = hashlib.sha256("\0".join(str(p) for p in parts).encode()).hexdigest()[:20]
    return f"{ORIGIN}:{h}"


def path_part(text: str) -> str:
    """One KCIDB path component: runs of other characters become '_' (dots too)."""
    return _PART.sub("_", text).strip("_") or "_"


def test_path(t: TestRecord) -> list[str]:
    """The KCIDB path of a record, as (unsanitised) parts."""
    if (t.area or "").startswith(f"{KSELFTEST}:"):
        head, *subtests = t.test_id.split("::")  # kselftest/<target>/<program>::<sub>...
        target, _, program = head.removeprefix(f"{KSELFTEST}/").rpartition("/")
        return [KSELFTEST, *target.split("/"), program, *subtests]
    area = t.area or PurePosixPath(t.test_id.split("::", 1)[0]).stem.removeprefix("test_")
    name = t.name + "".join(f"-{v}" for v in t.params.values())
    return ["nsharness", area or "misc", name]


def _checkout(vm: VmRecord) -> dict:
    p = vm.provenance
    co: dict = {"origin": ORIGIN, "valid": True, "misc": {"provenance": p}}
    if p.get("kind") == "debian":
        co["id"] = _id("checkout", "debian", p.get("package_version"))
        co["tree_name"] = "debian"
        co["git_commit_name"] = p.get("package_version")
        co["comment"] = f"Debian kernel source {p.get('package_version')}"
    elif p.get("kind") == "source":
        commit = p.get("commit") or ""
        dirty = bool(p.get("dirty"))
        # a tree with local changes, or without git, is that one tree state: the kernel
        co["id"] = _id("checkout", "tree", p.get("tree"), commit, vm.kernel_key if dirty else "")
        co["tree_name"] = "local"
        if _SHA1.match(commit):
            co["git_commit_hash"] = commit
        co["comment"] = f"kernel tree {p.get('tree')}" + (" (with local changes)" if dirty else "")
    else:
        co["id"] = _id("checkout", "file", vm.kernel_key)
        co["comment"] = f"a kernel image given as a file ({p.get('spec')}): source unknown"
    return co


def _build(vm: VmRecord, checkout_id: str, start: str) -> dict:
    b: dict = {
        "id": _id("build", vm.kernel_key),
        "checkout_id": checkout_id,
        "origin": ORIGIN,
        "architecture": "x86_64",
        "comment": vm.kernel_version or vm.release,
        "status": "PASS",  # the kernel exists and was booted: the build did its job
        "start_time": start,
        "misc": {
            "kernel_key": vm.kernel_key,
            "release": vm.release,
            "identity": vm.identity,
            "config_hash": vm.config_hash,
            "image_hash": vm.image_hash,
        },
    }
    if vm.config_hash:
        b["config_name"] = f"config-{vm.config_hash}"
    return b


def _test(t: TestRecord, tid: str, build_id: str, vm: VmRecord, rep: Report) -> dict:
    rec: dict = {
        "id": tid,
        "build_id": build_id,
        "origin": ORIGIN,
        "path": ".".join(path_part(p) for p in test_path(t)),
        "status": STATUS.get(t.outcome, "ERROR"),
        "comment": t.test_id,
        "duration": float(t.duration_s),
        "start_time": rep.run.start,
        "environment": {
            "comment": f"QEMU {vm.accel}: {vm.accel_reason}".strip(),
            "misc": {"host": rep.run.host, "qemu_version": rep.run.qemu_version},
        },
        "misc": {
            k: v
            for k, v in (
                ("test_id", t.test_id),
                ("nodeid", t.nodeid),
                ("kernel", t.kernel),
                ("area", t.area),
                ("error_kind", t.error_kind),
                ("reproduce", t.reproduce),
            )
            if v is not None
        },
    }
    ktap = t.observations.get("ktap") if isinstance(t.observations, dict) else None
    if isinstance(ktap, dict) and ktap.get("directive"):
        rec["misc"]["ktap"] = {k: v for k, v in ktap.items() if v is not None}
    excerpt = t.message or t.skip_reason
    if excerpt:
        rec["log_excerpt"] = excerpt.replace("\0", "")[-LOG_EXCERPT_MAX:]
    return rec


def to_kcidb(rep: Report) -> dict:
    """KCIDB I/O data for a report: records without a kernel the report describes (a
    session error, a test that ran on no kernel) have no build to hang on and are left out."""
    run_key = (rep.run.start, rep.run.host, tuple(rep.run.merged_from))
    checkouts: dict[str, dict] = {}
    builds: dict[str, dict] = {}
    vms: dict[str, VmRecord] = {}
    for vm in rep.vms:
        co = _checkout(vm)
        checkouts.setdefault(co["id"], co)
        b = _build(vm, co["id"], rep.run.start)
        builds.setdefault(vm.kernel_key, b)
        vms.setdefault(vm.kernel_key, vm)
    tests: list[dict] = []
    seen: set[str] = set()
    for t in rep.tests:
        if t.kernel_key not in builds:
            continue
        build_id = builds[t.kernel_key]["id"]
        tid, n = _id("test", *run_key, build_id, t.test_id), 1
        while tid in seen:  # the same test twice on one kernel (a rerun): keep both
            n += 1
            tid = _id("test", *run_key, build_id, t.test_id, n)
        seen.add(tid)
        tests.append(_test(t, tid, build_id, vms[t.kernel_key], rep))
    return {
        "version": dict(SCHEMA_VERSION),
        "checkouts": list(checkouts.values()),
        "builds": list(builds.values()),
        "tests": tests,
    }
