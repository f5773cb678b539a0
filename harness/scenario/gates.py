"""What a scenario needs besides fixtures: the kernel's version and config as gates.

A behaviour a kernel cannot show is skipped for a reason decided from the kernel's
version or config — never from the probed operation failing, which is exactly how a
regression would look.
"""

from __future__ import annotations

import re

import pytest

from ..kernel.model import Kernel

__all__ = ["kernel_version", "needs_config", "needs_version"]


def kernel_version(k: Kernel) -> tuple[int, int, int]:
    """(major, minor, patch) from the release: 6.12.117+deb12-cloud-amd64 -> (6, 12, 117);
    for Debian's 6.1.0-56 ABI names the upstream patch level comes from the package
    version (6.1.192-2 -> (6, 1, 192))."""
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", k.release)
    if not m:
        raise ValueError(f"unparsable kernel release {k.release!r}")
    major, minor, patch = int(m[1]), int(m[2]), int(m[3] or 0)
    pv = k.provenance.package_version
    if pv:
        pm = re.match(r"(\d+)\.(\d+)\.(\d+)", pv)
        if pm and (int(pm[1]), int(pm[2])) == (major, minor):
            patch = int(pm[3])
    return major, minor, patch


def needs_version(k: Kernel, at_least: tuple[int, ...], what: str) -> None:
    """Skip unless the kernel is at least *at_least* (the version *what* appeared in)."""
    v = kernel_version(k)
    if v < tuple(at_least):
        need = ".".join(map(str, at_least))
        pytest.skip(f"{what} is new in {need}; kernel {k.release} is {'.'.join(map(str, v))}")


def needs_config(k: Kernel, option: str, what: str, allow_module: bool = True) -> None:
    """Skip unless CONFIG_<option> is built in (or, if allowed, a module)."""
    ok = ("y", "m") if allow_module else ("y",)
    if k.config.get(option) not in ok:
        pytest.skip(f"{what} needs CONFIG_{option}; kernel {k.release} has "
                    f"{k.config.get(option, 'n')}")  # fmt: skip
