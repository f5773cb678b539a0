"""nsharness benchmark: prints figures, asserts nothing. The LAST line is one JSON object.

For each kernel, interleaved in one run (the machine is noisy: compare ratios), N samples
of each with min and median:
  (a) naive floor   the bzImage as given, `console=ttyS0 panic=-1`, a marker-only initramfs;
  (b) tuned floor   exactly the kernel file, QEMU machine and cmdline the harness uses, with a
                    marker-only initramfs: the limit for this kernel;
  (c) cold          Machine.start() with snapshots off: launch -> first guest op answered;
  (d) warm          Machine.start() restoring the saved guest -> first guest op answered;
  (e) suite         `nsharness run` on that kernel, warm; exit status and pass count kept
                    (a failing suite is not a time);
  (f) RSS           peak RSS of QEMU over the suite;
  (g) matrix        the two kernels with -n 2 vs the slower single kernel.
Ratios c/b, c/a, d/a. Targets (issue 11): c <= 1.15 b, d <= 0.3 a, suite <= 20 s warm,
RSS <= 300 MiB, matrix <= 1.2x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import image, kernel  # noqa: E402
from harness.boot import files as bootfiles  # noqa: E402
from harness.boot import initrd as initrd_mod  # noqa: E402
from harness.boot.cpio import cpio  # noqa: E402
from harness.host.keys import installation_keys  # noqa: E402
from harness.vm import accel as accel_mod  # noqa: E402
from harness.vm.machine import Machine  # noqa: E402
from harness.vm.machineopts import MachineOptions, cmdline  # noqa: E402
from harness.vm.qemu import QemuConfig, base_args, qemu_version  # noqa: E402

MARKER = "NSHARNESS-FLOOR-MARKER"


def marker_initramfs(path: Path) -> None:
    import stat

    init = f"#!/bin/busybox sh\n/bin/busybox echo {MARKER}\n/bin/busybox poweroff -f\n"
    path.write_bytes(
        cpio(
            [
                ("bin", stat.S_IFDIR | 0o755, b""),
                ("bin/busybox", stat.S_IFREG | 0o755, initrd_mod.busybox().read_bytes()),
                ("init", stat.S_IFREG | 0o755, init.encode()),
            ]
        )
    )


def _until_marker(cmd: list[str], log: Path) -> float:
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if log.exists() and MARKER in log.read_text(errors="replace"):
                return time.monotonic() - start
            if proc.poll() is not None or time.monotonic() - start > 120:
                raise RuntimeError(f"floor guest ended without the marker: {cmd[:4]}")
            time.sleep(0.005)
    finally:
        proc.kill()
        proc.wait()


def naive_floor(k: kernel.Kernel, initrd: Path, acc) -> float:
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "console"
        cmd = [
            *base_args(acc),
            "-kernel",
            str(k.image),
            "-initrd",
            str(initrd),
            "-append",
            "console=ttyS0 panic=-1",
            "-serial",
            f"file:{log}",
        ]
        return _until_marker(cmd, log)


def tuned_floor(k: kernel.Kernel, initrd: Path, opts: MachineOptions) -> float:
    """The harness's own kernel file (PVH vmlinux), machine and cmdline; marker initramfs."""
    files = bootfiles.ensure(k)
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "console"
        cfg = QemuConfig(
            kernel=files.kernel,
            initrd=initrd,
            append=cmdline(opts),
            root_disk=Path("/dev/null"),
            modules_disk=files.modules_disk,
            accel=opts.accel,
            memory_mb=opts.memory_mb,
            smp=opts.smp,
        )
        args = cfg.machine_args()
        # the devices need their backends; none is touched before the marker
        args += [
            "-netdev",
            "user,id=n0,restrict=on",
            "-chardev",
            "null,id=agent",
            "-drive",
            f"file={image.ensure().path},format=raw,if=none,id=root,readonly=on",
            "-serial",
            f"file:{log}",
        ]
        if files.modules_disk:
            args += ["-drive", f"file={files.modules_disk},format=raw,if=none,id=mods,readonly=on"]
        return _until_marker(args, log)


def machine_start(k: kernel.Kernel, img, opts: MachineOptions) -> tuple[float, int]:
    """Wall time of Machine.start() to the first answered guest op, and QEMU's RSS."""
    m = Machine(k, img, installation_keys(), opts)
    try:
        start = time.monotonic()
        m.start()
        took = time.monotonic() - start
        return took, _hwm(m.qemu.pid)
    finally:
        m.close()


def _hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def _watch_rss(stop: threading.Event, peak: list[int]) -> None:
    """Peak RSS (VmHWM) of any QEMU started while the suite runs."""
    tag = f"NSH_BENCH_PARENT={os.getpid()}".encode()
    while not stop.is_set():
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                qemu = b"qemu-system" in (p / "cmdline").read_bytes()[:200]
                if qemu and tag in (p / "environ").read_bytes():
                    peak[0] = max(peak[0], _hwm(int(p.name)))
            except OSError:
                pass
        stop.wait(0.3)


def run_suite(specs: list[str], workers: str | None = None) -> dict:
    """`nsharness run` wall time, its verdict and QEMU's peak RSS."""
    args = [a for sp in specs for a in ("--kernel", sp)] + (["-n", workers] if workers else [])
    peak, stop = [0], threading.Event()
    watcher = threading.Thread(target=_watch_rss, args=(stop, peak), daemon=True)
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "NSH_BENCH_PARENT": str(os.getpid())}
        watcher.start()
        start = time.monotonic()
        res = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", *args, "--out", out, "--", "-q"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
        )
        took = time.monotonic() - start
        stop.set()
        watcher.join()
        try:
            doc = json.loads((Path(out) / "report.json").read_text())
            outcomes = [t["outcome"] for t in doc["tests"]]
        except (OSError, ValueError, KeyError):
            outcomes = []
    return {
        "s": round(took, 2),
        "exit": res.returncode,
        "passed": outcomes.count("passed"),
        "failed": sum(o in ("failed", "error") for o in outcomes),
        "skipped": outcomes.count("skipped"),
        "rss_mb": peak[0],
        "valid": res.returncode == 0,
    }


def stats(xs: list[float]) -> dict:
    return {"min": round(min(xs), 3), "median": round(statistics.median(xs), 3), "n": len(xs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", action="append", default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--suite-runs", type=int, default=3)
    ap.add_argument("--no-suite", action="store_true")
    args = ap.parse_args()
    specs = args.kernel or ["debian:6.1", "debian:6.12"]
    acc = accel_mod.choose_accel("auto")
    print(f"accel: {acc.name} ({acc.reason}); qemu {qemu_version()}", flush=True)
    img = image.ensure()
    kernels = [kernel.resolve(s) for s in specs]
    warm_opts = MachineOptions(accel=acc)
    cold_opts = MachineOptions(accel=acc, snapshots=False)
    out: dict[str, dict] = {}
    samples = {k.key: {x: [] for x in "abcd"} | {"rss": []} for k in kernels}
    with tempfile.TemporaryDirectory() as d:
        initrd = Path(d) / "marker.cpio"
        marker_initramfs(initrd)
        for k in kernels:  # warm every cache (boot files, snapshot) outside the timings
            machine_start(k, img, warm_opts)
        for i in range(args.runs):
            for k in kernels:  # interleaved: noise hits every configuration alike
                s = samples[k.key]
                s["a"].append(naive_floor(k, initrd, acc))
                s["b"].append(tuned_floor(k, initrd, warm_opts))
                c, rss = machine_start(k, img, cold_opts)
                s["c"].append(c)
                s["rss"].append(rss)
                s["d"].append(machine_start(k, img, warm_opts)[0])
                print(
                    f"  run {i + 1} {k.release}: naive {s['a'][-1]:.2f}  tuned {s['b'][-1]:.2f}"
                    f"  cold {s['c'][-1]:.2f}  warm {s['d'][-1]:.2f} s",
                    flush=True,
                )
    print("\nkernel                        naive(a) tuned(b)  cold(c)  warm(d)   c/b   c/a   d/a")
    for k in kernels:
        s = {x: statistics.median(v) for x, v in samples[k.key].items() if x in "abcd"}
        out[k.key] = {
            "label": k.release,
            "identity": k.identity,
            **{
                name: stats(samples[k.key][x])
                for x, name in (
                    ("a", "naive_floor_s"),
                    ("b", "tuned_floor_s"),
                    ("c", "cold_s"),
                    ("d", "warm_s"),
                )
            },
            "c_over_b": round(s["c"] / s["b"], 3),
            "c_over_a": round(s["c"] / s["a"], 3),
            "d_over_a": round(s["d"] / s["a"], 3),
            "idle_rss_mb": max(samples[k.key]["rss"]),
        }
        print(
            f"{k.release:28} {s['a']:8.2f} {s['b']:8.2f} {s['c']:8.2f} {s['d']:8.2f} "
            f"{s['c'] / s['b']:5.2f} {s['c'] / s['a']:5.2f} {s['d'] / s['a']:5.2f}"
        )
    print("  targets: c/b <= 1.15, d/a <= 0.30")
    extra: dict = {}
    if not args.no_suite:
        print(f"\nsuite per kernel, warm, {args.suite_runs} interleaved runs (target <= 20 s):")
        runs: dict[str, list[dict]] = {k.key: [] for k in kernels}
        matrix: list[dict] = []
        for _ in range(args.suite_runs):
            for k, spec in zip(kernels, specs, strict=True):
                r = run_suite([spec])
                runs[k.key].append(r)
                print(f"  {k.release}: {r}", flush=True)
            if len(specs) >= 2:
                r = run_suite(specs[:2], workers="2")
                matrix.append(r)
                print(f"  matrix -n 2: {r}", flush=True)
        for k in kernels:
            good = [r["s"] for r in runs[k.key] if r["valid"]]
            out[k.key]["suite"] = {
                **(stats(good) if good else {"min": None, "median": None, "n": 0}),
                "runs": runs[k.key],
                "peak_rss_mb": max(r["rss_mb"] for r in runs[k.key]),
            }
        if matrix:
            good = [r["s"] for r in matrix if r["valid"]]
            singles = [out[k.key]["suite"]["median"] for k in kernels[:2]]
            single = max(x for x in singles if x) if all(singles) else None
            extra["matrix"] = {
                **(stats(good) if good else {"min": None, "median": None, "n": 0}),
                "runs": matrix,
                "vs_single": round(statistics.median(good) / single, 3)
                if good and single
                else None,
            }
            print(
                f"  matrix median vs slower single kernel: {extra['matrix']['vs_single']} "
                "(target <= 1.2)"
            )
    print(json.dumps({"accel": acc.name, "qemu": qemu_version(), "kernels": out, **extra}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
