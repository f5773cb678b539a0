"""What QEMU boots for a kernel: the vmlinux to load, a lean initrd, a modules disk.

All three are derived from the kernel (and this installation's keys) and cached, so a
warm boot does no preparation at all. The lean initrd is the boot-time trick that
matters under TCG: a static busybox inserts the handful of (decompressed) drivers,
mounts the image and switches straight into an init whose only job is the SSH server.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .cache import atomic_dir, cache_root, locked
from .errors import KernelError
from .image import make_ext4
from .kernel import Kernel, extract_vmlinux
from .keys import Keys

INIT = Path(__file__).resolve().parent.parent / "vm-images" / "initrd" / "init"
#: Drivers the guest needs before its root filesystem exists.
BOOT_MODULES = ("virtio_pci", "virtio_blk", "virtio_net")
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


@dataclass(frozen=True)
class BootFiles:
    kernel: Path  # an ELF vmlinux (PVH entry) when the kernel supports it, else the bzImage
    initrd: Path
    modules_disk: Path | None
    pvh: bool


def _modname(path: str) -> str:
    base = os.path.basename(path).split(".ko", 1)[0]
    return base.replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """modules.dep as {module path: [dependency paths]}."""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        if ":" in line:
            mod, rest = line.split(":", 1)
            deps[mod.strip()] = rest.split()
    return deps


def load_order(deps: dict[str, list[str]], wanted: tuple[str, ...], builtin: set[str]) -> list[str]:
    """Module paths to insmod, dependencies first, skipping what is built in."""
    by_name = {_modname(m): m for m in deps}
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for d in deps.get(path, []):
            visit(d)
        order.append(path)

    for name in wanted:
        if name in builtin:
            continue
        if name not in by_name:
            raise KernelError(f"kernel has module '{name}' neither built in nor in modules.dep")
        visit(by_name[name])
    return order


def _builtin(modules: Path) -> set[str]:
    f = modules / "modules.builtin"
    return {_modname(line) for line in f.read_text().split()} if f.exists() else set()


def _cpio(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive from (name, mode, data); directories have mode S_IFDIR."""
    out = io.BytesIO()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        nameb = name.encode() + b"\0"
        hdr = "070701" + "".join(
            f"{v:08x}" for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nameb), 0)
        )
        out.write(hdr.encode() + nameb)
        out.write(b"\0" * (-(110 + len(nameb)) % 4))
        out.write(data)
        out.write(b"\0" * (-len(data) % 4))
    return out.getvalue()


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".zst"):
        return subprocess.run(["zstd", "-dcq"], input=data, capture_output=True, check=True).stdout
    if path.name.endswith(".gz"):
        import gzip

        return gzip.decompress(data)
    return data


def _prepare_modules(kernel: Kernel, dest: Path) -> Path:
    """A copy of the modules tree with modules.dep (Debian ships none; depmod makes it)."""
    assert kernel.modules is not None
    tree = dest / "modtree"
    target = tree / kernel.release
    target.parent.mkdir(parents=True)
    # Hard links when possible: depmod only adds files, it never rewrites modules.
    try:
        subprocess.run(
            ["cp", "-al", str(kernel.modules), str(target)], check=True, capture_output=True
        )
    except subprocess.CalledProcessError:
        shutil.copytree(kernel.modules, target, symlinks=True)
    for link in ("build", "source"):
        p = target / link
        if p.is_symlink():
            p.unlink()
    if not (target / "modules.dep").exists() or (target / "modules.dep").stat().st_size == 0:
        # depmod -b wants BASE/lib/modules/RELEASE
        with tempfile.TemporaryDirectory() as base:
            (Path(base) / "lib").mkdir()
            os.symlink(tree, Path(base) / "lib" / "modules")
            res = subprocess.run(
                ["depmod", "-b", base, kernel.release], capture_output=True, text=True, check=False
            )
            if res.returncode != 0:
                raise KernelError(f"depmod failed for {kernel.release}: {res.stderr.strip()}")
    return target


def _busybox() -> Path:
    for c in BUSYBOX_CANDIDATES:
        p = Path(c)
        if p.is_file():
            return p
    raise KernelError("a static busybox is needed for the initrd (apt-get install busybox-static)")


def build_initrd(modules: Path | None, order: list[str], keys: Keys) -> bytes:
    d755, f755, f644, f600 = (
        stat.S_IFDIR | 0o755,
        stat.S_IFREG | 0o755,
        stat.S_IFREG | 0o644,
        stat.S_IFREG | 0o600,
    )
    entries: list[tuple[str, int, bytes]] = [
        (d, d755, b"") for d in ("bin", "dev", "proc", "sys", "newroot", "modules", "keys")
    ]
    entries += [
        ("bin/busybox", f755, _busybox().read_bytes()),
        ("init", f755, INIT.read_bytes()),
        ("keys/authorized_keys", f600, (keys.client.public_line + "\n").encode()),
        ("keys/host_key", f600, keys.dropbear_host_key()),
    ]
    names = []
    for rel in order:
        assert modules is not None
        name = os.path.basename(rel).split(".ko", 1)[0] + ".ko"
        entries.append((f"modules/{name}", f644, _read_module(modules / rel)))
        names.append(name)
    entries.append(("modules/load.order", f644, ("\n".join(names) + "\n").encode()))
    return _cpio(entries)


def ensure(kernel: Kernel, keys: Keys) -> BootFiles:
    """Prepare (once) and return the boot files for *kernel*."""
    if kernel.modules is None and any(kernel.config.get(o) == "m" for o in ("VIRTIO_NET", "VETH")):
        raise KernelError(
            f"kernel {kernel.release} builds drivers as modules but no modules were found "
            "(pass --modules DIR)"
        )
    pvh = kernel.config.get("PVH") == "y"
    dest = cache_root() / "boot" / f"{kernel.release}-{kernel.image_hash}"
    with locked(dest):
        if not (dest / "done").exists():
            with atomic_dir(dest) as tmp:
                if pvh:
                    (tmp / "vmlinux").write_bytes(extract_vmlinux(kernel.image.read_bytes()))
                if kernel.modules is not None:
                    tree = _prepare_modules(kernel, tmp)
                    make_ext4(tree.parent, tmp / "modules.ext4", "nsmods", 8)
                    order = load_order(
                        parse_modules_dep((tree / "modules.dep").read_text()),
                        BOOT_MODULES,
                        _builtin(tree),
                    )
                    (tmp / "boot.order").write_text("\n".join(order))
                    shutil.copy(tree / "modules.dep", tmp / "modules.dep")
                    for rel in order:
                        (tmp / "bootmods" / rel).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy(tree / rel, tmp / "bootmods" / rel)
                    shutil.rmtree(tmp / "modtree")
                (tmp / "done").write_text("")
        # The initrd carries this installation's keys and our init: keyed by both.
        ident = hashlib.sha256(
            keys.client.public_line.encode() + keys.host.public_line.encode() + INIT.read_bytes()
        ).hexdigest()[:12]
        initrd = dest / f"initrd-{ident}.cpio"
        if not initrd.exists():
            order_file = dest / "boot.order"
            order = order_file.read_text().split() if order_file.exists() else []
            with tempfile.NamedTemporaryFile(dir=dest, delete=False) as f:
                f.write(build_initrd(dest / "bootmods", order, keys))
            os.chmod(f.name, 0o600)
            os.replace(f.name, initrd)
    return BootFiles(
        kernel=dest / "vmlinux" if pvh else kernel.image,
        initrd=initrd,
        modules_disk=dest / "modules.ext4" if (dest / "modules.ext4").exists() else None,
        pvh=pvh,
    )
