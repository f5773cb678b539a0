"""The initrd a guest boots with, in two cpio archives the kernel unpacks in order: a shared
one cached per kernel (static busybox, our init, the few drivers the boot needs, in load
order) and a private one written per boot in the VM's own directory (this installation's
SSH keys and the guest agent's code), so the cache never holds a key.
"""

from __future__ import annotations

import functools
import stat
from pathlib import Path

from ..errors import KernelError
from ..host.cache import atomic_file
from ..host.keys import Keys
from ..host.resources import guest_code, vm_images
from .cpio import cpio

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


def init_script() -> Path:
    return vm_images() / "initrd" / "init"


def busybox() -> Path:
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
        ("bin/busybox", F755, busybox().read_bytes()),
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


def initrd_with_keys(shared: Path, keys: Keys, dest: Path) -> Path:
    """The initrd a boot uses: the cached archive followed by the private archive (the
    kernel unpacks concatenated cpio archives in order), in the VM's private directory."""
    with atomic_file(dest, mode=0o600) as tmp, open(tmp, "wb") as out:
        out.write(shared.read_bytes())
        out.write(private_cpio(keys))
    return dest
