"""What a scenario needs besides fixtures: the kernel's version and config as gates.

A behaviour a kernel cannot show is skipped for a reason decided from the kernel's
version or config — never from the probed operation failing, which is exactly how a
regression would look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from ..kernel.model import Kernel

__all__ = ["Boundary", "kernel_version", "needs_config", "needs_version"]


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


@dataclass(frozen=True)
class Boundary:
    """The release a behaviour changed in, as a test states it per version.

    *since* is the first release with the new behaviour. *verified* says a kernel of that
    release (or the last one before it) was booted and showed it; otherwise the number is
    read from the source (commit dates, pull tags) and the test says so: "boundary from
    source, unverified". With *window*, the release is not known at all, only that the old
    behaviour was seen up to *window[0]* and the new one from *since*: a kernel in between
    may show either (state() == "either"), and the test accepts either, but not a mix."""

    what: str
    since: tuple[int, ...]
    verified: bool = False
    window: tuple[int, ...] | None = None

    def state(self, k: Kernel) -> str:
        """ "new", "old" or (inside an unknown window) "either", for kernel *k*."""
        v = kernel_version(k)
        if v >= tuple(self.since):
            return "new"
        if self.window is not None and v[: len(self.window)] > tuple(self.window):
            return "either"
        return "old"

    def has(self, k: Kernel) -> bool:
        return self.state(k) == "new"

    def note(self) -> str:
        """'NS_GET_ID is new in 6.18 (boundary from source, unverified)'."""
        since = ".".join(map(str, self.since))
        if self.window is not None:
            last = ".".join(map(str, self.window))
            return (f"{self.what} is new after {last}, seen from {since} (the release in "
                    "between is unknown: boundary from source, unverified)")  # fmt: skip
        how = "" if self.verified else " (boundary from source, unverified)"
        return f"{self.what} is new in {since}{how}"
