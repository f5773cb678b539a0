"""A kernel's modules tree, confined: what goes onto the guest's modules disk and initrd.

The tree comes from wherever `--modules`/`--kernel` points, so nothing in it may reach
outside it: a symlink to /etc/shadow or a `../../` path in modules.dep must not pull a
host file into the cached initrd. Only regular files inside the tree are ever read;
symlinks that leave the tree are dropped from the copy.
"""

from __future__ import annotations

import gzip
import lzma
import os
import shutil
import subprocess
import tempfile
import zlib
from pathlib import Path

from ..errors import KernelError
from ..host.hostpath import which

TIMEOUT = 600


def modname(path: str) -> str:
    return os.path.basename(path).split(".ko", 1)[0].replace("-", "_")


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """modules.dep as {module path: [dependency paths]}."""
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        if ":" in line:
            mod, rest = line.split(":", 1)
            deps[mod.strip()] = rest.split()
    return deps


def load_order(
    deps: dict[str, list[str]], wanted: tuple[str, ...], builtin: set[str], optional: bool = False
) -> list[str]:
    """Module paths to insmod, dependencies first, skipping what is built in (and, if
    *optional*, what the kernel does not have at all)."""
    by_name = {modname(m): m for m in deps}
    order: list[str] = []

    def visit(path: str, depth: int = 0) -> None:
        if path in order or depth > 64:
            return
        for d in deps.get(path, []):
            visit(d, depth + 1)
        order.append(path)

    for name in wanted:
        if name in builtin:
            continue
        if name not in by_name:
            if optional:
                continue
            raise KernelError(f"kernel has module '{name}' neither built in nor in modules.dep")
        visit(by_name[name])
    return order


def inside(root: Path, rel: str) -> Path:
    """root/rel, refusing anything that is not a regular file within root."""
    if os.path.isabs(rel) or ".." in Path(rel).parts:
        raise KernelError(f"modules tree: refusing path {rel!r} (outside the tree)")
    p = root / rel
    real, base = os.path.realpath(p), os.path.realpath(root)
    if os.path.commonpath([real, base]) != base:
        raise KernelError(f"modules tree: {rel} leads outside the tree ({real})")
    if p.is_symlink() or not p.is_file():
        raise KernelError(f"modules tree: {rel} is not a regular file")
    return p


def read_module(path: Path) -> bytes:
    """A module's ELF bytes, decompressed (the initrd's busybox insmod wants plain .ko)."""
    data = path.read_bytes()
    try:
        if path.name.endswith(".xz"):
            return lzma.decompress(data)
        if path.name.endswith(".gz"):
            return gzip.decompress(data)
        if path.name.endswith(".zst"):
            res = subprocess.run(
                ["zstd", "-dcq"], input=data, capture_output=True, check=True, timeout=TIMEOUT
            )
            return res.stdout
    except (lzma.LZMAError, OSError, EOFError, zlib.error, subprocess.SubprocessError) as e:
        raise KernelError(f"module {path.name} is corrupt: {e}") from e
    return data


def builtin(tree: Path) -> set[str]:
    f = tree / "modules.builtin"
    return {modname(line) for line in f.read_text().split()} if f.is_file() else set()


def _drop_escaping_links(tree: Path) -> None:
    base = os.path.realpath(tree)
    for dirpath, dirs, files in os.walk(tree):
        for name in files + dirs:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                real = os.path.realpath(p)
                if os.path.commonpath([real, base]) != base or name in ("build", "source"):
                    os.unlink(p)


def prepare(modules: Path, release: str, dest: Path) -> Path:
    """A confined copy of the modules tree at dest/RELEASE with a fresh modules.dep."""
    target = dest / release
    dest.mkdir(parents=True)
    try:  # hard links when possible: depmod only adds files, it never rewrites modules
        subprocess.run(
            ["cp", "-al", str(modules), str(target)],
            check=True,
            capture_output=True,
            timeout=TIMEOUT,
        )
    except subprocess.SubprocessError:
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(modules, target, symlinks=True)
    _drop_escaping_links(target)
    for generated in target.glob("modules.*"):
        if generated.name not in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            generated.unlink()  # never trust a given modules.dep: depmod writes our own
    with tempfile.TemporaryDirectory() as base:  # depmod -b wants BASE/lib/modules/RELEASE
        (Path(base) / "lib").mkdir()
        os.symlink(dest, Path(base) / "lib" / "modules")
        try:
            res = subprocess.run(
                [which("depmod") or "depmod", "-b", base, release],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except FileNotFoundError as e:
            raise KernelError("depmod is not installed (apt-get install kmod)") from e
        except subprocess.TimeoutExpired as e:
            raise KernelError(f"depmod took over {TIMEOUT} s") from e
        if res.returncode != 0:
            raise KernelError(f"depmod failed for {release}: {res.stderr.strip()[:300]}")
    return target


def boot_modules(tree: Path, wanted: tuple[str, ...], optional: bool = False) -> dict[str, bytes]:
    """{file name: ELF bytes} of *wanted* and their dependencies, in load order."""
    deps = parse_modules_dep((tree / "modules.dep").read_text(errors="replace"))
    out: dict[str, bytes] = {}
    for rel in load_order(deps, wanted, builtin(tree), optional):
        name = os.path.basename(rel).split(".ko", 1)[0] + ".ko"
        out[name] = read_module(inside(tree, rel))
    return out
