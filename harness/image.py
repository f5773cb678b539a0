"""The guest root filesystem: built from a recipe in vm-images/, cached by the recipe's hash.

The image is a plain ext4 file that no VM ever writes to: each boot gets its own
throw-away writable layer (QEMU snapshot=on), so every boot starts clean and any number
of VMs share one image. It is rebuilt only when the recipe (or the host's pyroute2,
copied in so guest and host speak the same version) changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .cache import atomic_dir, cache_root, locked
from .errors import ImageError
from .progress import run_logged
from .resources import vm_images


@dataclass(frozen=True)
class Recipe:
    name: str
    path: Path
    suite: str
    mirror: str
    variant: str
    packages: tuple[str, ...]
    strip: tuple[str, ...]
    free_mb: int

    @classmethod
    def load(cls, name: str = "bookworm") -> Recipe:
        path = vm_images() / name
        try:
            data = tomllib.loads((path / "recipe.toml").read_text())
        except FileNotFoundError as e:
            raise ImageError(f"no image recipe '{name}' in {vm_images()}") from e
        except tomllib.TOMLDecodeError as e:
            raise ImageError(f"bad recipe {path}/recipe.toml: {e}") from e
        return cls(
            name=data["name"],
            path=path,
            suite=data["suite"],
            mirror=os.environ.get("NSHARNESS_MIRROR", data["mirror"]),
            variant=data.get("variant", "minbase"),
            packages=tuple(data["packages"]),
            strip=tuple(data.get("strip", ())),
            free_mb=int(data.get("free_mb", 128)),
        )

    @property
    def hash(self) -> str:
        """Hash of everything that shapes the image: recipe dir, pyroute2 copied in."""
        h = hashlib.sha256()
        for f in sorted(p for p in self.path.rglob("*") if p.is_file()):
            h.update(str(f.relative_to(self.path)).encode() + b"\0")
            h.update(f.read_bytes())
        h.update(f"pyroute2={pyroute2_version()}".encode())
        return h.hexdigest()[:16]


@dataclass(frozen=True)
class Image:
    recipe: str
    hash: str
    path: Path  # the ext4 root filesystem
    manifest: dict

    @property
    def pyroute2(self) -> str:
        return self.manifest.get("pyroute2", "")


def pyroute2_version() -> str:
    import pyroute2

    return getattr(pyroute2, "__version__", "unknown")


def _pyroute2_dir() -> Path:
    import pyroute2

    return Path(pyroute2.__file__).resolve().parent


def _run_with_progress(cmd: list[str], label: str, log: Path) -> None:
    rc, tail = run_logged(cmd, label, log)
    if rc != 0:
        raise ImageError(f"{cmd[0]} failed (exit {rc}, log {log}): {' | '.join(tail[-3:])}")


def _dir_size_mb(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total // (1 << 20)


def make_ext4(src: Path, out: Path, label: str, free_mb: int) -> None:
    """Pack a directory into an ext4 image file (mkfs.ext4 -d: no mounting, no root)."""
    size = int(_dir_size_mb(src) * 1.25) + free_mb + 16
    res = subprocess.run(
        [
            "mkfs.ext4",
            "-q",
            "-F",
            "-L",
            label,
            "-d",
            str(src),
            "-E",
            "root_owner=0:0",
            str(out),
            f"{size}M",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise ImageError(f"mkfs.ext4 failed: {res.stderr.strip()}")


def build(recipe: Recipe, dest: Path) -> None:
    """Build the image into *dest* (a fresh directory)."""
    if shutil.which("mmdebstrap") is None:
        raise ImageError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    if os.geteuid() != 0:
        raise ImageError("building the guest image needs root (mmdebstrap root mode)")
    root = dest / "rootfs"
    log = dest / "build.log"
    cmd = [
        "mmdebstrap",
        f"--variant={recipe.variant}",
        "--mode=root",
        f"--include={','.join(recipe.packages)}",
        recipe.suite,
        str(root),
        recipe.mirror,
    ]
    _run_with_progress(cmd, f"building guest image '{recipe.name}'", log)
    for rel in recipe.strip:
        shutil.rmtree(root / rel, ignore_errors=True)
    overlay = recipe.path / "overlay"
    if overlay.is_dir():
        shutil.copytree(overlay, root, dirs_exist_ok=True, symlinks=True)
    pyver = f"python{sys.version_info.major}.{sys.version_info.minor}"
    guest_py = sorted((root / "usr/lib").glob("python3.*"))
    site = root / "usr/local/lib" / (guest_py[-1].name if guest_py else pyver) / "dist-packages"
    site.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        _pyroute2_dir(), site / "pyroute2", ignore=shutil.ignore_patterns("__pycache__")
    )
    # Byte-compile what we copied with the guest's own python, so the first import is not
    # also a compile (guest Python runs ~6x slower than the host's under TCG).
    subprocess.run(
        [
            "chroot",
            str(root),
            "python3",
            "-m",
            "compileall",
            "-q",
            f"/{site.relative_to(root)}/pyroute2",
        ],
        capture_output=True,
        check=False,
    )
    packages = subprocess.run(
        ["chroot", str(root), "dpkg-query", "-W", "-f", "${Package} ${Version}\\n"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\n")
    make_ext4(root, dest / "root.ext4", "nsroot", recipe.free_mb)
    shutil.rmtree(root)
    manifest = {
        "recipe": recipe.name,
        "hash": recipe.hash,
        "suite": recipe.suite,
        "pyroute2": pyroute2_version(),
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "packages": [p for p in packages if p],
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))


def ensure(name: str = "bookworm", rebuild: bool = False) -> Image:
    """Return the cached image for the recipe, building it first if needed."""
    recipe = Recipe.load(name)
    dest = cache_root() / "images" / f"{recipe.name}-{recipe.hash}"
    with locked(dest):
        if rebuild or not (dest / "root.ext4").is_file():
            with atomic_dir(dest) as tmp:
                build(recipe, tmp)
    manifest = json.loads((dest / "manifest.json").read_text())
    return Image(recipe.name, recipe.hash, dest / "root.ext4", manifest)
