"""What QEMU boots for a kernel: the vmlinux to load, a lean initrd, a modules disk.

Kernel-derived parts are cached per kernel identity (image, modules tree and config
hashes): the ELF vmlinux (PVH entry, no in-guest decompression), the modules disk (after
our own depmod, the tree confined: modtree) and the shared initrd (initrd.py).
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import KernelError
from ..host.cache import atomic_dir, cache_root, locked
from ..image.ext4 import make_ext4
from ..kernel.bzimage import extract_vmlinux
from ..kernel.model import Kernel
from . import modtree
from .initrd import BOOT_MODULES, SCENARIO_MODULES, build_initrd, init_script


@dataclass(frozen=True)
class BootFiles:
    kernel: Path  # an ELF vmlinux (PVH entry) when the kernel supports it, else the bzImage
    initrd: Path  # without keys: see initrd_with_keys()
    modules_disk: Path | None
    pvh: bool
    key: str  # what these files were derived from (kernel identity + init)


def boot_key(kernel: Kernel) -> str:
    basis = f"{kernel.key}:{hashlib.sha256(init_script().read_bytes()).hexdigest()[:12]}"
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def ensure(kernel: Kernel) -> BootFiles:
    """Prepare (once per kernel identity) and return the boot files for *kernel*."""
    needs = [o for o in ("VIRTIO_NET", "VIRTIO_BLK", "VIRTIO_PCI") if kernel.config.get(o) == "m"]
    if kernel.modules is None and needs:
        raise KernelError(
            f"kernel {kernel.release} builds {', '.join('CONFIG_' + n for n in needs)} as "
            "modules but no modules tree was found (pass --modules DIR)"
        )
    pvh = kernel.config.get("PVH") == "y"
    key = boot_key(kernel)
    dest = cache_root() / "boot" / f"{kernel.release}-{key}"
    with locked(dest, f"preparing the boot files of {kernel.release}"):
        if not (dest / "done").exists():
            with atomic_dir(dest) as tmp:
                if pvh:
                    (tmp / "vmlinux").write_bytes(extract_vmlinux(kernel.image.read_bytes()))
                mods: dict[str, bytes] = {}
                if kernel.modules is not None:
                    tree = modtree.prepare(kernel.modules, kernel.release, tmp / "modtree")
                    make_ext4(tree.parent, tmp / "modules.ext4", "nsmods", 8)
                    mods = modtree.boot_modules(tree, BOOT_MODULES)
                    mods |= modtree.boot_modules(tree, tuple(SCENARIO_MODULES), optional=True)
                    shutil.rmtree(tmp / "modtree")
                (tmp / "initrd.cpio").write_bytes(build_initrd(mods, kernel.modules is not None))
                (tmp / "done").write_text(kernel.identity + "\n")
    return BootFiles(
        kernel=dest / "vmlinux" if pvh else kernel.image,
        initrd=dest / "initrd.cpio",
        modules_disk=dest / "modules.ext4" if (dest / "modules.ext4").exists() else None,
        pvh=pvh,
        key=key,
    )
