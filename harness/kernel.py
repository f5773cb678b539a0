"""Kernels: what a `--kernel` spec names, and the identity of the build it resolves to.

A kernel is identified by what it is — the hashes of its image, modules tree and config —
never by its release string: two builds of the same tree (the A/B test of a patch) report
the same release but are two kernels to the harness. The release is a label for humans.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from . import bzimage, kconfig
from .errors import KernelError
from .fingerprint import file_hash, tree_hash

DEFAULT_SPEC = "debian:6.12"


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


def _beside(image: Path, release: str) -> tuple[list[Path], Path | None]:
    """Config candidates and the modules tree found next to an image — only in the two
    layouts that mean something: an unpacked package (ROOT/boot/vmlinuz-R with
    ROOT/boot/config-R and ROOT/lib/modules/R) and a build tree (TREE/arch/x86/boot/bzImage
    with TREE/.config). Never a parent directory of an arbitrary path, where another local
    user could have planted a .config or a modules tree."""
    configs = [image.parent / f"config-{release}"]
    modules = None
    if image.parent.name == "boot" and image.name == f"vmlinuz-{release}":
        root = image.parent.parent
        for cand in (root / "lib/modules" / release, root / "usr/lib/modules" / release):
            if cand.is_dir():
                modules = cand
                break
    parts = image.parts
    if len(parts) > 4 and parts[-4:-1] == ("arch", "x86", "boot") and image.name == "bzImage":
        configs.append(image.parents[3] / ".config")
    return configs, modules


def _modules_dir(given: Path, release: str) -> Path:
    """--modules may name the release dir itself or a root holding lib/modules/RELEASE."""
    if not given.is_dir():
        raise KernelError(f"--modules {given}: not a directory")
    for cand in (given, given / "lib/modules" / release, given / release):
        if (cand / "modules.order").is_file() or (cand / "modules.dep").is_file():
            return cand
    raise KernelError(f"--modules {given}: no modules.order for release {release} there")


def load_kernel(
    image: Path,
    *,
    provenance: Provenance | None = None,
    modules: Path | None = None,
    config: Path | None = None,
) -> Kernel:
    """Read a bzImage and locate its config and modules (in a known layout or as given)."""
    image = image.expanduser().resolve()
    if not image.is_file():
        raise KernelError(f"kernel image not found: {image}")
    data = image.read_bytes()
    hdr = bzimage.read_header(data)
    release = hdr.release
    cands, found_modules = _beside(image, release)
    cfg_text, cfg_source = None, ""
    for cand in ([config] if config else []) + cands:
        if cand and cand.is_file():
            text = cand.read_text(errors="replace")
            if not kconfig.looks_like_config(text):
                raise KernelError(f"{cand} is not a kernel config (no CONFIG_ lines)")
            cfg_text, cfg_source = text, str(cand)
            break
    if cfg_text is None:
        cfg_text = kconfig.ikconfig_from_vmlinux(bzimage.extract_vmlinux(data))
        cfg_source = "embedded IKCONFIG"
    if cfg_text is None:
        raise KernelError(
            f"no config for kernel {release}: no config-{release} beside it, no .config in "
            "its build tree, no IKCONFIG in the image"
        )
    mods = _modules_dir(modules.expanduser().resolve(), release) if modules else found_modules
    return Kernel(
        image=image,
        version=hdr.version_string,
        config_text=cfg_text,
        config_source=cfg_source,
        modules=mods,
        provenance=provenance or Provenance("file", str(image)),
        image_hash=file_hash(image),
        modules_hash=tree_hash(mods) if mods else None,
    )


def resolve(spec: str | None, modules: Path | None = None) -> Kernel:
    """Turn a `--kernel` value into a Kernel: a path, or `debian:SERIES|VERSION|PACKAGE`."""
    spec = spec or DEFAULT_SPEC
    if spec.startswith("debian:"):
        from .debian import fetch

        return fetch(spec)
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
