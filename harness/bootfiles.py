"""What QEMU boots for a kernel: the vmlinux to load, a lean initrd, a modules disk.

The lean initrd is the boot-time trick that matters under TCG: a static busybox inserts
the handful of (decompressed) drivers, mounts the image and switches straight into an init
whose only job is the SSH server. Kernel-derived parts are cached per kernel identity
(image, modules tree and config hashes); this installation's SSH keys are NOT cached: each
boot appends them as a second cpio archive in the VM's private directory, so the cache
(which CI uploads) never holds a private key.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from . import modtree
from .bzimage import extract_vmlinux
from .cache import atomic_dir, atomic_file, cache_root, locked
from .cpio import cpio
from .errors import KernelError
from .image import make_ext4
from .kernel import Kernel
from .keys import Keys
from .resources import guest_code, vm_images

#: Drivers the guest needs before its root filesystem exists.
BOOT_MODULES = ("virtio_pci", "virtio_blk", "virtio_net", "virtio_console")
#: Device drivers the scenarios use, inserted by the initrd too when the kernel has them as
#: modules: an insmod from the initrd costs ~10 ms where a cold modprobe in the booted
#: guest costs ~0.3-1 s under TCG. dummy gets numdummies=0, or loading it adds a dummy0.
SCENARIO_MODULES = {"dummy": "numdummies=0", "veth": "", "macvlan": "", "tun": "", "bridge": ""}
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
D755, F755, F644, F600 = (
    stat.S_IFDIR | 0o755,
    stat.S_IFREG | 0o755,
    stat.S_IFREG | 0o644,
    stat.S_IFREG | 0o600,
)


@dataclass(frozen=True)
class BootFiles:
    kernel: Path  # an ELF vmlinux (PVH entry) when the kernel supports it, else the bzImage
    initrd: Path  # without keys: see initrd_with_keys()
    modules_disk: Path | None
    pvh: bool
    key: str  # what these files were derived from (kernel identity + init)


def init_script() -> Path:
    return vm_images() / "initrd" / "init"


def _busybox() -> Path:
    for c in BUSYBOX_CANDIDATES:
        p = Path(c)
        if p.is_file():
            return p
    raise KernelError("a static busybox is needed for the initrd (apt-get install busybox-static)")


def build_initrd(modules: dict[str, bytes], has_modules_disk: bool) -> bytes:
    """The shared part of the initrd: busybox, our init, the boot drivers in load order."""
    entries: list[tuple[str, int, bytes]] = [
        (d, D755, b"") for d in ("bin", "dev", "proc", "sys", "newroot", "modules", "keys")
    ]
    entries += [
        ("bin/busybox", F755, _busybox().read_bytes()),
        ("init", F755, init_script().read_bytes()),
    ]
    order = []
    for name, data in modules.items():
        entries.append((f"modules/{name}", F644, data))
        params = SCENARIO_MODULES.get(name.removesuffix(".ko"), "")
        order.append(f"{name} {params}".strip())
    entries.append(("modules/load.order", F644, "".join(f"{n}\n" for n in order).encode()))
    if has_modules_disk:
        entries.append(("modules/disk", F644, b"vdb\n"))
    return cpio(entries)


def private_cpio(keys: Keys) -> bytes:
    """The per-installation part: the client's public key, the guest's host key, and the
    guest agent's code (so a harness change never needs a new image or cached initrd)."""
    entries = [
        ("keys", D755, b""),
        ("keys/authorized_keys", F600, (keys.client.public_line + "\n").encode()),
        ("keys/host_key", F600, keys.dropbear_host_key()),
        ("agent", D755, b""),
    ]
    entries.append(("agent/__pycache__", D755, b""))
    for f in sorted(guest_code().glob("*.py")):
        entries.append((f"agent/{f.name}", F644, f.read_bytes()))
        name, code = _pyc(f, f.stat().st_mtime_ns)  # the guest's Python compiles ~6x slower
        entries.append((f"agent/__pycache__/{name}", F644, code))
    return cpio(entries)


@functools.lru_cache(maxsize=64)
def _pyc(src: Path, mtime_ns: int) -> tuple[str, bytes]:
    """*src* byte-compiled for this Python version, valid without a source timestamp check
    (an unchecked-hash pyc); a guest Python of another version simply ignores it."""
    import py_compile
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "x.pyc"
        mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
        py_compile.compile(str(src), cfile=str(out), doraise=True, invalidation_mode=mode)
        return f"{src.stem}.{sys.implementation.cache_tag}.pyc", out.read_bytes()


def initrd_with_keys(files: BootFiles, keys: Keys, dest: Path) -> Path:
    """The initrd a boot uses: the cached archive followed by the private archive (the
    kernel unpacks concatenated cpio archives in order), in the VM's private directory."""
    with atomic_file(dest, mode=0o600) as tmp, open(tmp, "wb") as out:
        out.write(files.initrd.read_bytes())
        out.write(private_cpio(keys))
    return dest


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
