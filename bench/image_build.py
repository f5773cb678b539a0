"""Guest image build as root vs as an ordinary user: prints figures, asserts nothing.
The LAST line is one JSON object.

Variants, interleaved round by round (the first one rotates: the network and the other
tenants of the machine drift while this runs):
  root-mode  mmdebstrap --mode=root, as root: how root built the image before (reference)
  root       the build as root today (mmdebstrap --mode=unshare: one path for everyone)
  user       the same build as an ordinary user (unshare mode, in a user namespace)
Each sample is one image.build() from nothing (no cache, fresh download), timed inside
its process; the split between mmdebstrap and our finishing step comes from build.log.

Run as root: it creates the user (like tests/vm/test_unprivileged.py) and gives it a copy
of this checkout with its own venv. Both sides stage their trees in /var/tmp.

    python bench/image_build.py [--samples 3] [--variants root-mode,root,user]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.vm.userws import Workspace  # noqa: E402

STAGE = "/var/tmp"
DRIVER = r"""
import re, shutil, sys, tempfile, time
from pathlib import Path
from harness import image
dest = Path(tempfile.mkdtemp(prefix="nsh-bench-img-"))
t = time.monotonic()
try:
    image.build(image.Recipe.load(), dest, mode=sys.argv[1])
    total = time.monotonic() - t
    m = re.search(r"success in ([0-9.]+) seconds", (dest / "build.log").read_text())
    print(f"BUILD {total:.2f} {float(m.group(1)) if m else -1:.2f}")
finally:
    shutil.rmtree(dest, ignore_errors=True)
"""
MODES = {"root-mode": "root", "root": "unshare", "user": "unshare"}


def one(variant: str, ws: Workspace | None) -> tuple[float, float]:
    """(build seconds, of which mmdebstrap) for one sample of *variant*."""
    argv = ["-c", DRIVER, MODES[variant]]
    if variant == "user":
        res = ws.run([str(ws.python), *argv], 1800, TMPDIR=STAGE)
        out = res.stdout
    else:
        env = {**os.environ, "TMPDIR": STAGE}
        res = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True
        )
        out = res.stdout + res.stderr
    m = re.search(r"^BUILD ([0-9.]+) ([-0-9.]+)$", out, re.M)
    if res.returncode != 0 or not m:
        raise SystemExit(f"image_build: {variant} build failed: {out.strip()[-600:]}")
    return float(m.group(1)), float(m.group(2))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--variants", default="root-mode,root,user")
    ap.add_argument("--user", default="nsh-bench-user")
    args = ap.parse_args()
    variants = args.variants.split(",")
    if unknown := set(variants) - set(MODES):
        print(f"image_build: unknown variants {sorted(unknown)} (of {list(MODES)})")
        return 2
    if os.geteuid() != 0:
        print("image_build: run as root (it compares root's build with an ordinary user's)")
        return 2
    ws = None
    if "user" in variants:
        t = time.monotonic()
        ws = Workspace.create(args.user, {"pyroute2": version("pyroute2")})
        res = ws.run(["./bootstrap.sh"], 900)
        if res.returncode != 0:
            ws.remove()
            print(f"image_build: bootstrap as {args.user} failed: {res.stdout.strip()[-600:]}")
            return 1
        print(f"workspace for {args.user} ready in {time.monotonic() - t:.1f} s", flush=True)
    samples: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
    try:
        for i in range(args.samples):
            order = variants[i % len(variants) :] + variants[: i % len(variants)]
            for v in order:
                total, mm = one(v, ws)
                samples[v].append((total, mm))
                print(
                    f"round {i + 1} {v:9} {total:7.1f} s  (mmdebstrap {mm:6.1f} s, "
                    f"finishing {total - mm:5.1f} s)",
                    flush=True,
                )
    finally:
        if ws:
            ws.remove()
    print(f"\n{'variant':10} {'min s':>8} {'median s':>9} {'finish med s':>13}  samples")
    summary = {}
    for v, s in samples.items():
        totals = [t for t, _ in s]
        finish = [t - m for t, m in s]
        summary[v] = {
            "min_s": round(min(totals), 2),
            "median_s": round(statistics.median(totals), 2),
            "finish_median_s": round(statistics.median(finish), 2),
            "samples_s": [round(t, 2) for t in totals],
        }
        print(
            f"{v:10} {min(totals):8.1f} {statistics.median(totals):9.1f} "
            f"{statistics.median(finish):13.1f}  {', '.join(f'{t:.1f}' for t in totals)}"
        )
    ratios = {}
    for ref in ("root-mode", "root"):
        if "user" in summary and ref in summary:
            for stat in ("median_s", "min_s"):
                key = f"user/{ref} {stat[:-2]}"
                ratios[key] = round(summary["user"][stat] / summary[ref][stat], 3)
                print(f"ratio {key}: {ratios[key]:.3f}")
            # Round by round: the load on a shared machine drifts less within a round.
            paired = [u[0] / r[0] for u, r in zip(samples["user"], samples[ref], strict=True)]
            key = f"user/{ref} paired median"
            ratios[key] = round(statistics.median(paired), 3)
            rounds = ", ".join(f"{x:.2f}" for x in paired)
            print(f"ratio {key}: {ratios[key]:.3f} (per round: {rounds})")
    print(json.dumps({"bench": "image_build", "summary": summary, "ratios": ratios}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
