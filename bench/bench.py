"""nsharness benchmark: prints figures, asserts nothing. The LAST line is one JSON object.

For each kernel, interleaved in one run (the machine is noisy; compare ratios):
  floor_s       the kernel file booted plainly (-kernel as given) with a tiny initramfs
                that prints a marker and powers off: what the kernel alone costs;
  boot_to_ssh_s QEMU launch -> first successful SSH command through the harness;
  rss_mb        peak RSS of an idle guest's QEMU;
  suite_s       the whole scenario suite on that kernel, boot included (nsharness run).
Plus cold set-up (empty cache: kernel fetch, image build, boot files, first boot) and
warm re-run (nothing rebuilt) times.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import bootfiles, image, kernel, qemu  # noqa: E402
from harness.keys import installation_keys  # noqa: E402
from harness.machine import Machine, MachineOptions  # noqa: E402

MARKER = "NSHARNESS-FLOOR-MARKER"


def floor_initramfs(path: Path) -> None:
    init = f"#!/bin/busybox sh\n/bin/busybox echo {MARKER}\n/bin/busybox poweroff -f\n"
    import stat

    entries = [
        ("bin", stat.S_IFDIR | 0o755, b""),
        ("bin/busybox", stat.S_IFREG | 0o755, bootfiles._busybox().read_bytes()),
        ("init", stat.S_IFREG | 0o755, init.encode()),
    ]
    path.write_bytes(bootfiles._cpio(entries))


def boot_floor(k: kernel.Kernel, initrd: Path, accel: qemu.Accel) -> float:
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "console"
        cmd = [
            *qemu.base_args(accel),
            "-kernel",
            str(k.image),
            "-initrd",
            str(initrd),
            "-append",
            "console=ttyS0 panic=-1",
            "-serial",
            f"file:{log}",
        ]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while MARKER not in log.read_text(errors="replace") if log.exists() else True:
                if proc.poll() is not None and not (log.exists() and MARKER in log.read_text()):
                    raise RuntimeError("floor guest exited without the marker")
                if time.monotonic() - start > 120:
                    raise RuntimeError("floor guest timed out")
                time.sleep(0.01)
            return time.monotonic() - start
        finally:
            proc.kill()
            proc.wait()


def boot_ssh(k: kernel.Kernel, img: image.Image, opts: MachineOptions) -> tuple[float, float]:
    m = Machine(k, img, installation_keys(), opts)
    try:
        m.start()
        for _ in range(5):  # idle-ish use, then read the peak RSS
            m.run("true")
        hwm = 0
        for line in Path(f"/proc/{m.qemu.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) // 1024
        return m.record.ssh_s, hwm
    finally:
        m.close()


def time_suite(specs: list[str], workers: str | None = None) -> float:
    """Wall time of `nsharness run` (boot included) on *specs*, optionally with -n."""
    args = [a for sp in specs for a in ("--kernel", sp)] + (["-n", workers] if workers else [])
    with tempfile.TemporaryDirectory() as out:
        start = time.monotonic()
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "run",
                *args,
                "--accel",
                "auto",
                "--out",
                out,
                "--",
                "-q",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        took = time.monotonic() - start
    tail = [ln for ln in res.stdout.splitlines() if " passed" in ln or " failed" in ln][-1:]
    label = " + ".join(specs) + (f" (-n {workers})" if workers else "")
    verdict = tail[0].strip("= ") if tail else f"exit {res.returncode}"
    print(f"  suite {label}: {took:.1f}s  ({verdict})", flush=True)
    return round(took, 2)


def cold_warm(spec: str) -> tuple[float, float]:
    """Set-up time with an empty cache, then again with everything cached."""
    times = []
    with tempfile.TemporaryDirectory(prefix="nsh-cold-") as cache:
        env = {**os.environ, "NSHARNESS_CACHE": cache}
        for _ in range(2):
            start = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "harness.cli", "shell", "--kernel", spec, "true"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            times.append(time.monotonic() - start)
    return times[0], times[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", action="append", default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-suite", action="store_true")
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--smp", type=int, default=None, help="guest CPUs (default: the harness's)")
    args = ap.parse_args()
    specs = args.kernel or ["debian:6.1", "debian:6.12"]
    accel = qemu.choose_accel("auto")
    print(f"accel: {accel.name} ({accel.reason})  qemu {qemu.qemu_version()}", flush=True)
    img = image.ensure()
    kernels = [kernel.resolve(s) for s in specs]
    opts = MachineOptions(accel=accel, **({"smp": args.smp} if args.smp else {}))
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as d:
        initrd = Path(d) / "floor.cpio"
        floor_initramfs(initrd)
        for k in kernels:  # warm the boot-file cache outside the timings
            bootfiles.ensure(k, installation_keys())
        samples = {k.release: {"floor": [], "ssh": [], "rss": []} for k in kernels}
        for i in range(args.runs):
            for k in kernels:  # interleaved: noise hits both configurations alike
                s = samples[k.release]
                s["floor"].append(boot_floor(k, initrd, accel))
                ssh, rss = boot_ssh(k, img, opts)
                s["ssh"].append(ssh)
                s["rss"].append(rss)
                print(
                    f"  run {i + 1} {k.release}: floor {s['floor'][-1]:.2f}s  "
                    f"boot-to-ssh {ssh:.2f}s  rss {rss} MB",
                    flush=True,
                )
    print("\nkernel                          floor(med)  boot-to-ssh(med)  ratio   rss(peak)")
    for k in kernels:
        s = samples[k.release]
        f, b = statistics.median(s["floor"]), statistics.median(s["ssh"])
        out[k.release] = {
            "boot_to_ssh_s": round(b, 3),
            "floor_s": round(f, 3),
            "rss_mb": max(s["rss"]),
            "ratio": round(b / f, 3),
            "boot_to_ssh_min_max": [round(min(s["ssh"]), 3), round(max(s["ssh"]), 3)],
            "floor_min_max": [round(min(s["floor"]), 3), round(max(s["floor"]), 3)],
        }
        print(
            f"{k.release:32} {f:9.2f}s  {b:15.2f}s  {b / f:5.2f}x  {max(s['rss']):6d} MB "
            f"(target <= 1.2x, <= 300 MB)"
        )
    extra = {}
    if not args.no_suite:
        print("\nscenario suite, boot included (target <= 90 s per kernel):")
        for k, spec in zip(kernels, specs, strict=True):
            out[k.release]["suite_s"] = time_suite([spec])
        if len(specs) >= 2:
            print("\nkernel matrix in parallel (target <= 1.3x the single-kernel time):")
            single = out[kernels[-1].release]["suite_s"]
            matrix = time_suite(specs[-2:], workers="2")
            print(f"  matrix {matrix:.1f}s vs single {single:.1f}s: {matrix / single:.2f}x")
            extra["matrix_n2_s"] = matrix
            extra["matrix_ratio"] = round(matrix / single, 3)
    if not args.no_cold:
        cold, warm = cold_warm(specs[-1])
        print(
            f"\nset-up with an empty cache (kernel fetch + image build + boot files + first "
            f"boot): {cold:.1f}s; warm re-run (nothing rebuilt): {warm:.1f}s"
        )
        print("  (Debian/Python package installs are bootstrap.sh's and not included here)")
        extra.update(cold_setup_s=round(cold, 1), warm_rerun_s=round(warm, 1))
    print(json.dumps({"kernels": out, "accel": accel.name, **extra}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
