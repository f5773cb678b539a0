"""Debian's cloud kernels: which package a `debian:` spec names, fetched once into the cache."""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import KernelError
from ..host.cache import atomic_dir, cache_root, locked
from .files import load_kernel
from .model import Kernel, Provenance

FLAVOUR = "cloud-amd64-unsigned"
APT_TIMEOUT = 600


@dataclass(frozen=True)
class DebianPackage:
    name: str
    version: str


def _natural_key(s: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def _apt(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=APT_TIMEOUT, **kw)
    except FileNotFoundError as e:
        raise KernelError(f"{cmd[0]} is not installed: 'debian:' kernels need apt") from e
    except subprocess.TimeoutExpired as e:
        raise KernelError(f"{' '.join(cmd[:3])} took over {APT_TIMEOUT} s") from e


def candidates() -> list[DebianPackage]:
    """Every cloud-amd64 unsigned kernel package the configured apt archive offers."""
    res = _apt(["apt-cache", "search", "--names-only", rf"^linux-image-.*-{FLAVOUR}$"])
    names = [n for n in res.stdout.split() if n.startswith("linux-image-") and n.endswith(FLAVOUR)]
    if res.returncode != 0 or not names:
        raise KernelError(
            f"apt offers no linux-image-*-{FLAVOUR} packages (run 'apt-get update' first)"
        )
    out = _apt(["apt-cache", "show", "--no-all-versions", *names]).stdout
    pkgs, name = [], None
    for line in out.splitlines():
        if line.startswith("Package: "):
            name = line.split(": ", 1)[1]
        elif line.startswith("Version: ") and name:
            pkgs.append(DebianPackage(name, line.split(": ", 1)[1]))
            name = None
    return pkgs


def pick(spec: str, offered: list[DebianPackage]) -> DebianPackage:
    """Choose the package a `debian:...` spec names.

    `debian:6.12` is the newest of that series; `debian:6.1.192-2` an exact package
    version; `debian:linux-image-...` an exact package name.
    """
    want = spec.split(":", 1)[1]
    exact = [p for p in offered if want in (p.version, p.name)]
    if exact:
        return exact[0]
    if re.fullmatch(r"\d+\.\d+", want):
        series = [p for p in offered if re.match(rf"linux-image-{re.escape(want)}[.-]", p.name)]
        if series:
            return max(series, key=lambda p: _natural_key(p.version))
    versions = ", ".join(sorted({p.version for p in offered}, key=_natural_key))
    raise KernelError(f"no Debian cloud kernel matches '{spec}' (offered: {versions})")


def _safe(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9.+~_-]+", name):
        raise KernelError(f"unusable Debian package name/version {name!r}")
    return name


def fetch_package(pkg: DebianPackage) -> Path:
    """Download and unpack *pkg* once (under a lock, atomically); its unpacked root."""
    dest = cache_root() / "kernels" / f"{_safe(pkg.name)}_{_safe(pkg.version)}"
    with locked(dest, f"downloading {pkg.name} {pkg.version}"):
        if not (dest / "boot").is_dir():
            with atomic_dir(dest) as tmp, tempfile.TemporaryDirectory() as dl:
                res = _apt(["apt-get", "download", f"{pkg.name}={pkg.version}"], cwd=dl)
                debs = list(Path(dl).glob("*.deb"))
                if res.returncode != 0 or not debs:
                    last = (res.stderr.strip().splitlines() or ["no .deb downloaded"])[-1]
                    raise KernelError(f"apt-get download {pkg.name}={pkg.version} failed: {last}")
                x = _apt(["dpkg-deb", "-x", str(debs[0]), str(tmp)])
                if x.returncode != 0:
                    raise KernelError(f"dpkg-deb -x {debs[0].name} failed: {x.stderr.strip()}")
    return dest


def fetch(spec: str) -> Kernel:
    """Resolve a `debian:` spec to a Kernel, downloading the package on first use."""
    pkg = pick(spec, candidates())
    root = fetch_package(pkg)
    images = sorted((root / "boot").glob("vmlinuz-*"))
    if not images:
        raise KernelError(f"package {pkg.name} holds no boot/vmlinuz-*")
    prov = Provenance("debian", spec, package=pkg.name, package_version=pkg.version)
    return load_kernel(images[0], provenance=prov)
