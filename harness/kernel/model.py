"""What a kernel is: the identity of one build, and where it came from.

A kernel is identified by what it is — the hashes of its image, modules tree and config —
never by its release string: two builds of the same tree (the A/B test of a patch) report
the same release but are two kernels to the harness. The release is a label for humans.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from ..errors import KernelError
from . import kconfig


@dataclass(frozen=True)
class Provenance:
    """Where a kernel came from: enough to fetch or rebuild exactly this build again."""

    kind: str  # "debian" | "source" | "file"
    spec: str  # what the user gave (--kernel / --kernel-src value)
    package: str | None = None
    package_version: str | None = None
    tree: str | None = None
    commit: str | None = None
    dirty: bool = False

    def describe(self) -> str:
        if self.kind == "debian":
            return f"debian:{self.package_version}"
        if self.kind == "source":
            at = f"@{self.commit[:12]}{'-dirty' if self.dirty else ''}" if self.commit else ""
            return f"src:{self.tree}{at}"
        return f"file:{self.spec}"


@dataclass(frozen=True)
class Kernel:
    """A resolved kernel: the file to boot, its parts, and who it is."""

    image: Path
    version: str  # the header's full kernel_version string
    config_text: str = field(repr=False)
    config_source: str
    modules: Path | None
    provenance: Provenance
    image_hash: str
    modules_hash: str | None

    @property
    def release(self) -> str:
        return self.version.split(" ", 1)[0]

    @cached_property
    def config(self) -> dict[str, str]:
        return kconfig.parse_config(self.config_text)

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(self.config_text.encode()).hexdigest()[:16]

    @property
    def key(self) -> str:
        """The kernel's identity: equal keys mean the same image, modules and config."""
        basis = f"{self.image_hash}:{self.modules_hash or '-'}:{self.config_hash}"
        return hashlib.sha256(basis.encode()).hexdigest()[:12]

    @property
    def identity(self) -> str:
        """One line a human can use to get this build back."""
        return f"{self.provenance.describe()} ({self.release}, kernel {self.key})"

    def to_dict(self) -> dict:
        """Plain values, to hand a resolved kernel to another process (xdist workers)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["image"] = str(self.image)
        d["modules"] = str(self.modules) if self.modules else None
        d["provenance"] = asdict(self.provenance)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Kernel:
        return cls(
            **{
                **d,
                "image": Path(d["image"]),
                "modules": Path(d["modules"]) if d["modules"] else None,
                "provenance": Provenance(**d["provenance"]),
            }
        )

    def check_config(self, required: tuple[str, ...] = kconfig.REQUIRED_OPTIONS) -> None:
        missing = kconfig.missing_options(self.config, required)
        if missing:
            names = ", ".join(f"CONFIG_{m}" for m in missing)
            raise KernelError(
                f"kernel {self.release} ({self.config_source}) lacks options the scenarios "
                f"need: {names}"
            )


def unique_labels(kernels: list[Kernel]) -> dict[str, str]:
    """{key: label}: the release, or release@key where two kernels share a release."""
    releases = [k.release for k in kernels]
    return {
        k.key: k.release if releases.count(k.release) == 1 else f"{k.release}@{k.key[:8]}"
        for k in kernels
    }
