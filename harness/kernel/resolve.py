"""What a `--kernel` value names: a Debian package (`debian:SERIES|VERSION|PACKAGE`) or a
path (a bzImage, an unpacked package, a build tree), resolved to a Kernel."""

from __future__ import annotations

from pathlib import Path

from ..errors import KernelError
from . import debian
from .files import load_kernel
from .model import Kernel, Provenance

DEFAULT_SPEC = "debian:6.12"


def resolve(spec: str | None, modules: Path | None = None) -> Kernel:
    """Turn a `--kernel` value into a Kernel: a path, or `debian:SERIES|VERSION|PACKAGE`."""
    spec = spec or DEFAULT_SPEC
    if spec.startswith("debian:"):
        return debian.fetch(spec)
    path = Path(spec).expanduser()
    prov = Provenance("file", spec)
    if path.is_dir():
        for cand in [path / "arch/x86/boot/bzImage", *sorted(path.glob("boot/vmlinuz-*"))]:
            if cand.is_file():
                return load_kernel(cand, provenance=prov, modules=modules)
        raise KernelError(f"--kernel {spec}: no arch/x86/boot/bzImage or boot/vmlinuz-* in it")
    if not path.exists():
        raise KernelError(f"--kernel {spec}: no such file (or use debian:6.1 / debian:6.12)")
    return load_kernel(path, provenance=prov, modules=modules)
