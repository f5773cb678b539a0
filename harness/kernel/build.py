"""Kernels from a source tree: configure with our fragment, build out of tree, incrementally.

The build directory (O=) lives in the cache, keyed by the tree's path and the config
inputs, so the next run of the same tree only recompiles what changed. A fragment option
that Kconfig silently dropped (an unmet dependency) is an error, not a surprise at boot.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import KernelError
from ..host.cache import cache_root, locked
from ..host.progress import run_logged
from ..host.resources import data
from .files import load_kernel
from .kconfig import parse_config
from .model import Kernel, Provenance

FRAGMENT = data("nsharness.config")


def fragment_options(path: Path = FRAGMENT) -> dict[str, str]:
    return parse_config(path.read_text())


def dropped_options(config_text: str, fragment: dict[str, str]) -> list[str]:
    """Fragment options whose value did not survive olddefconfig."""
    have = parse_config(config_text)
    return [k for k, v in fragment.items() if have.get(k, "n") != v]


def source_commit(src: Path) -> tuple[str | None, bool]:
    """The tree's git commit and whether it has local changes (None if not a repo)."""
    if not (src / ".git").exists():
        return None, False
    try:
        rev = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "-uno"],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, False
    return rev, bool(dirty)


def build_dir(src: Path, base_config: Path | None) -> Path:
    key = hashlib.sha256(
        f"{src.resolve()}\0{base_config.resolve() if base_config else 'tinyconfig'}".encode()
    ).hexdigest()[:12]
    return cache_root() / "builds" / f"{src.resolve().name}-{key}"


def _make(
    src: Path, out: Path, targets: list[str], log: Path, label: str, extra: list[str] | None = None
) -> None:
    """Run make in the build dir; on failure raise with the log's tail."""
    cmd = ["make", "-C", str(src), f"O={out}", f"-j{os.cpu_count() or 1}", *(extra or []), *targets]
    rc, tail = run_logged(cmd, label, log)
    if rc != 0:
        errors = [ln for ln in tail if "error" in ln.lower()] or tail[-5:]
        raise KernelError(
            f"kernel build failed ({' '.join(targets)}), log {log}: {' | '.join(errors[-3:])}\n"
            + "\n".join(tail[-20:])
        )


def build(src: Path, base_config: Path | None = None, fragment: Path = FRAGMENT) -> Kernel:
    """Configure and build bzImage + modules of the tree at *src*; return the Kernel."""
    src = src.expanduser().resolve()
    if not (src / "Makefile").is_file() or not (src / "Kconfig").is_file():
        raise KernelError(f"--kernel-src {src}: not a kernel source tree (no Makefile/Kconfig)")
    if shutil.which("make") is None or shutil.which("gcc") is None:
        raise KernelError(
            "building a kernel needs make and gcc (apt-get install build-essential "
            "flex bison bc libelf-dev libssl-dev)"
        )
    out = build_dir(src, base_config)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "build.log"
    frag = fragment_options(fragment)
    with locked(out, f"building the kernel in {out}"):
        stamp = out / ".nsharness-config-inputs"
        inputs = fragment.read_text() + (base_config.read_text() if base_config else "tinyconfig")
        configured = stamp.exists() and stamp.read_text(errors="ignore") == inputs
        if not (out / ".config").exists() or not configured:
            if base_config:
                shutil.copy(base_config, out / ".config")
            else:
                _make(src, out, ["tinyconfig"], log, "kernel: tinyconfig")
            with open(out / ".config", "a") as f:
                f.write("\n" + fragment.read_text())
            _make(src, out, ["olddefconfig"], log, "kernel: olddefconfig")
            stamp.write_text(inputs)
        dropped = dropped_options((out / ".config").read_text(), frag)
        if dropped:
            raise KernelError(
                "Kconfig dropped fragment options (unmet dependencies?): "
                + ", ".join(f"CONFIG_{o}" for o in dropped)
            )
        _make(src, out, ["bzImage", "modules"], log, f"kernel: building {src.name}")
        modroot = out / "modinst"
        shutil.rmtree(modroot, ignore_errors=True)
        _make(
            src,
            out,
            ["modules_install"],
            log,
            "kernel: modules_install",
            extra=[f"INSTALL_MOD_PATH={modroot}", "INSTALL_MOD_STRIP=1"],
        )
    image = out / "arch" / "x86" / "boot" / "bzImage"
    release = (out / "include" / "config" / "kernel.release").read_text().strip()
    mods = modroot / "lib" / "modules" / release
    commit, dirty = source_commit(src)
    prov = Provenance("source", f"src:{src}", tree=str(src), commit=commit, dirty=dirty)
    return load_kernel(
        image, provenance=prov, modules=mods if mods.is_dir() else None, config=out / ".config"
    )
