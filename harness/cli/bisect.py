"""`nsharness bisect`: git bisect with the harness as the judge.

Each step builds the tree (incrementally), boots it and runs the selected scenarios:
exit 0 good, 1 bad, 125 skip when the kernel does not build or boot, so `git bisect run`
steps over broken commits instead of blaming them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from ..errors import HarnessError

GOOD, BAD, SKIP = 0, 1, 125


def step(src: Path, k_expr: str, accel: str, out: Path, suite: Path) -> int:
    """One bisect step on the tree's current checkout."""
    import pytest

    from ..kernel.build import source_commit

    commit = source_commit(src)[0] or "unknown"
    out.mkdir(parents=True, exist_ok=True)
    report = out / f"{commit}.json"
    argv = [
        str(suite),
        "-p",
        "no:cacheprovider",
        "-q",
        "--kernel-src",
        str(src),
        "--accel",
        accel,
        "--report",
        str(report),
        "-k",
        k_expr,
    ]
    rc = int(pytest.main(argv))
    if rc == int(pytest.ExitCode.USAGE_ERROR):  # the kernel did not build (or configure)
        print("nsharness bisect: kernel did not build, skipping this commit", file=sys.stderr)
        return SKIP
    doc = json.loads(report.read_text()) if report.exists() else None  # noqa: SIM108
    if doc is None or doc["run"]["partial"] or not doc["vms"]:
        return SKIP  # did not boot, or interrupted: no verdict on this commit
    if rc == 0:
        return GOOD
    if rc == 1 and any(t["outcome"] == "failed" for t in doc["tests"]):
        return BAD
    return SKIP


def run(src: Path, good: str, bad: str, k_expr: str, accel: str, out: Path) -> dict:
    """Drive `git bisect run`; return the first bad commit and its failing tests."""
    git = ["git", "-C", str(src)]
    if subprocess.run(
        [*git, "status", "--porcelain", "-uno"], capture_output=True, text=True
    ).stdout.strip():
        raise HarnessError(f"{src} has uncommitted changes: commit or stash them before bisecting")
    for rev in (good, bad):
        if (
            subprocess.run(
                [*git, "rev-parse", "--verify", f"{rev}^{{commit}}"], capture_output=True
            ).returncode
            != 0
        ):
            raise HarnessError(f"{rev} is not a commit in {src}")
    subprocess.run([*git, "bisect", "reset"], capture_output=True)
    subprocess.run([*git, "bisect", "start", bad, good], check=True, capture_output=True)
    try:
        cmd = [
            sys.executable,
            "-m",
            "harness.cli",
            "bisect-step",
            "--kernel-src",
            str(src),
            "-k",
            k_expr,
            "--accel",
            accel,
            "--out",
            str(out),
        ]
        res = subprocess.run([*git, "bisect", "run", *cmd], capture_output=True, text=True)
        log = res.stdout + res.stderr
        (out / "bisect.log").parent.mkdir(parents=True, exist_ok=True)
        (out / "bisect.log").write_text(log)
        m = re.search(r"^([0-9a-f]{40}) is the first bad commit", log, re.M)
        if not m:
            raise HarnessError(
                f"git bisect did not converge (see {out / 'bisect.log'}): "
                f"{log.strip().splitlines()[-1] if log.strip() else res.returncode}"
            )
        first = m.group(1)
        subject = subprocess.run(
            [*git, "log", "-1", "--format=%s", first], capture_output=True, text=True
        ).stdout.strip()
    finally:
        subprocess.run([*git, "bisect", "reset"], capture_output=True)
    evidence = []
    rep = out / f"{first}.json"
    if rep.exists():
        for t in json.loads(rep.read_text())["tests"]:
            if t["outcome"] == "failed":
                evidence.append(
                    {
                        "test": t["name"],
                        "message": (t["message"] or "")[:1500],
                        "reproduce": t["reproduce"],
                    }
                )
    return {
        "first_bad": first,
        "subject": subject,
        "evidence": evidence,
        "steps": sorted(p.stem for p in out.glob("*.json")),
    }
