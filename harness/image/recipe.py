"""The guest root filesystem: built from a recipe in vm-images/, cached by the recipe's hash.

The image is a plain ext4 file that no VM ever writes to: each boot gets its own
throw-away writable layer (QEMU snapshot=on), so every boot starts clean and any number
of VMs share one image. It is rebuilt only when the recipe (or the host's pyroute2,
copied in so guest and host speak the same version) changes.

Root and ordinary users build it the same way: mmdebstrap's unshare mode (for root it
only adds a private mount namespace), then finish.py finishes and packs the tree as root
of a user namespace mapped like mmdebstrap's (userns.py) -- for root, directly. Nothing
needs privileges: an ordinary user needs subordinate ids and newuidmap (`nsharness doctor`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError
from ..host.cache import atomic_dir, cache_root, locked
from ..host.hostpath import ensure_sbin_on_path, which
from ..host.progress import run_logged
from ..host.resources import vm_images
from . import userns
from .finish import FinishSpec
from .staging import staging_dir

# mkfs.ext4, debugfs, depmod and chroot live in /usr/sbin, which an ordinary user's PATH
# lacks on Debian; boot files (depmod) and the image need them.
ensure_sbin_on_path()

#: Bumped when the build itself (not the recipe) changes what lands in the image.
BUILDER = "2"  # 2: unshare mode for everyone, hash-based pycs, /dev nodes via debugfs


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
        h.update(f"builder={BUILDER}".encode())
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


def _run_with_progress(cmd: list[str], label: str, log: Path, what: str) -> None:
    rc, tail = run_logged(cmd, label, log)
    if rc != 0:
        raise ImageError(f"{what} failed (exit {rc}, log {log}): {' | '.join(tail[-3:])}")


def default_mode() -> str:
    """mmdebstrap's unshare mode for everyone, except root where namespaces are forbidden.

    Root in a container without CAP_SYS_ADMIN cannot unshare a mount namespace, so unshare
    mode fails at once; root mode still works there (it skips mounting /proc and /sys), as
    it always did. The finishing steps are the same either way.
    """
    if os.geteuid() != 0:
        return "unshare"
    tool = which("unshare")
    probe = [tool or "unshare", "--mount", "--pid", "--fork", "--uts", "--ipc", "true"]
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    return "unshare" if ok else "root"


def build(recipe: Recipe, dest: Path, mode: str | None = None) -> None:
    """Build the image into *dest* (a fresh directory).

    *mode* is mmdebstrap's: "unshare" (everyone; the default where the host allows it)
    or "root" (root only; also kept to compare with and to benchmark against).
    """
    for tool, pkg in (
        ("mmdebstrap", "mmdebstrap"),
        ("mkfs.ext4", "e2fsprogs"),
        ("debugfs", "e2fsprogs"),
    ):
        if which(tool) is None:
            raise ImageError(f"{tool} is not installed (apt-get install {pkg})")
    if mode not in (None, "unshare", "root"):
        raise ImageError(f"unknown mmdebstrap mode '{mode}' (unshare or root)")
    mode = mode or default_mode()
    if mode == "root" and os.geteuid() != 0:
        raise ImageError("mmdebstrap's root mode needs root; ordinary users build in unshare mode")
    try:
        idmap = None if os.geteuid() == 0 else userns.subid_map()
    except userns.UsernsError as e:
        raise ImageError(str(e)) from None
    log = dest / "build.log"
    with staging_dir(idmap) as stage:
        rootfs = stage / "rootfs"
        rootfs.mkdir()
        # HOME and TMPDIR where the namespace root can reach them (not the user's own).
        cmd = [
            "env",
            f"HOME={stage}",
            f"TMPDIR={stage}",
            "mmdebstrap",
            f"--variant={recipe.variant}",
            f"--mode={mode}",
            f"--include={','.join(recipe.packages)}",
            recipe.suite,
            str(rootfs),
            recipe.mirror,
        ]
        _run_with_progress(cmd, f"building guest image '{recipe.name}'", log, "mmdebstrap")
        overlay = recipe.path / "overlay"
        spec = FinishSpec(
            rootfs=str(rootfs),
            overlay=str(overlay) if overlay.is_dir() else "",
            pyroute2=str(_pyroute2_dir()),
            strip=recipe.strip,
            out=str(dest / "root.ext4"),
            packages_out=str(dest / "packages.txt"),
            label="nsroot",
            free_mb=recipe.free_mb,
            owner=idmap.owner if idmap else (0, 0),
        )
        finish = [sys.executable, "-m", "harness.image.finish", spec.to_json()]
        label = f"packing guest image '{recipe.name}'"
        _run_with_progress(userns.command(finish, idmap), label, log, "finishing the image")
    packages = (dest / "packages.txt").read_text().split("\n")
    (dest / "packages.txt").unlink()
    manifest = {
        "recipe": recipe.name,
        "hash": recipe.hash,
        "suite": recipe.suite,
        "pyroute2": pyroute2_version(),
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "built_by": "root" if idmap is None else "user",
        "mmdebstrap_mode": mode,
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
