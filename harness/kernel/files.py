"""A kernel given as a file: its release read from the image, its config and modules found
beside it — only in the layouts that mean something, never in a parent directory another
local user could have planted files in."""

from __future__ import annotations

from pathlib import Path

from ..errors import KernelError
from . import bzimage, kconfig
from .fingerprint import file_hash, tree_hash
from .model import Kernel, Provenance


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
