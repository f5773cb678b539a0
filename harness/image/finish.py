"""Finish mmdebstrap's tree into the guest's ext4, running as root of the build namespace.

Root runs this directly; an ordinary user runs it in the subordinate-id namespace
(userns.py), where the tree's files show their real owners, chroot works and
`mkfs.ext4 -d` records those owners. Both therefore take exactly the same steps and
produce the same files, owners and modes.

Device nodes are the one thing a user namespace cannot create (mknod needs real root),
so /dev is emptied in both builds and its nodes are written into the finished image with
debugfs, which edits the file system image and needs no privilege at all.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ImageError
from ..host.hostpath import which


@dataclass(frozen=True)
class DevEntry:
    name: str
    kind: str  # "c" character device, "l" symlink, "d" directory
    mode: int
    major: int = 0
    minor: int = 0
    target: str = ""


#: What mmdebstrap (1.3.5, its @devfiles) puts in /dev when it can mknod: the root-mode image.
DEV: tuple[DevEntry, ...] = (
    DevEntry("console", "c", 0o666, 5, 1),
    DevEntry("fd", "l", 0o777, target="/proc/self/fd"),
    DevEntry("full", "c", 0o666, 1, 7),
    DevEntry("null", "c", 0o666, 1, 3),
    DevEntry("ptmx", "c", 0o666, 5, 2),
    DevEntry("pts", "d", 0o755),
    DevEntry("random", "c", 0o666, 1, 8),
    DevEntry("shm", "d", 0o755),
    DevEntry("stderr", "l", 0o777, target="/proc/self/fd/2"),
    DevEntry("stdin", "l", 0o777, target="/proc/self/fd/0"),
    DevEntry("stdout", "l", 0o777, target="/proc/self/fd/1"),
    DevEntry("tty", "c", 0o666, 5, 0),
    DevEntry("urandom", "c", 0o666, 1, 9),
    DevEntry("zero", "c", 0o666, 1, 5),
)


@dataclass(frozen=True)
class FinishSpec:
    """Everything the finishing step needs, passed as JSON across the namespace boundary."""

    rootfs: str
    overlay: str  # "" for none
    pyroute2: str  # the host's pyroute2 package directory
    strip: tuple[str, ...]
    out: str  # the ext4 image to write
    packages_out: str  # "Package Version" lines
    label: str
    free_mb: int
    owner: tuple[int, int]  # who gets the outputs (the invoking user, as seen here)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> FinishSpec:
        d = json.loads(text)
        return cls(**{**d, "strip": tuple(d["strip"]), "owner": tuple(d["owner"])})


def _normal_mode(src: os.stat_result) -> int:
    """What git records: a checkout's or a venv's modes depend on the umask that made them."""
    return 0o755 if stat.S_ISDIR(src.st_mode) or src.st_mode & 0o111 else 0o644


def copy_normalized(src: Path, dst: Path, skip: tuple[str, ...] = ()) -> None:
    """Copy *src* into *dst*: directories that exist keep their mode, the rest get 0755/0644."""
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        rel = Path(dirpath).relative_to(src)
        target = dst / rel
        if not target.exists():
            target.mkdir()
            target.chmod(0o755)
        for name in sorted(filenames):
            s, d = Path(dirpath) / name, target / name
            if d.is_symlink() or d.exists():
                d.unlink()
            if s.is_symlink():
                os.symlink(os.readlink(s), d)
                continue
            shutil.copyfile(s, d)
            d.chmod(_normal_mode(s.stat()))
        for name in dirnames:
            if (Path(dirpath) / name).is_symlink():  # os.walk lists links to dirs as dirs
                d = target / name
                if not d.exists():
                    os.symlink(os.readlink(Path(dirpath) / name), d)


def _chroot(root: Path, *argv: str) -> str:
    res = subprocess.run(
        [which("chroot") or "chroot", str(root), *argv], capture_output=True, text=True
    )
    if res.returncode != 0:
        err = (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
        raise ImageError(f"in the guest tree, {' '.join(argv[:3])} failed: {err}")
    return res.stdout


def reset_dev(root: Path) -> None:
    dev = root / "dev"
    if dev.is_dir():
        for p in dev.iterdir():
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    else:
        dev.mkdir()
    dev.chmod(0o755)


def populate_dev_tree(root: Path) -> None:
    """The /dev entries a tree can hold anywhere: directories and symlinks."""
    for e in DEV:
        p = root / "dev" / e.name
        if e.kind == "d":
            p.mkdir()
            p.chmod(e.mode)
        elif e.kind == "l":
            os.symlink(e.target, p)


def add_device_nodes(image: Path, entries: tuple[DevEntry, ...] = DEV) -> None:
    """Write the character devices of *entries* into /dev of the ext4 *image*, owned by root."""
    cmds = ["cd /dev"]
    for e in entries:
        if e.kind == "c":
            mode = stat.S_IFCHR | e.mode
            cmds += [
                f"mknod {e.name} c {e.major} {e.minor}",
                f"sif {e.name} mode 0{mode:o}",
                f"sif {e.name} uid 0",
                f"sif {e.name} gid 0",
            ]
    debugfs = which("debugfs") or "debugfs"
    res = subprocess.run(
        [debugfs, "-w", "-f", "-", str(image)],
        input="\n".join(cmds) + "\n",
        capture_output=True,
        text=True,
    )
    # debugfs exits 0 even when a command fails: check what the image now holds.
    listing = subprocess.run(
        [debugfs, "-R", "ls -p /dev", str(image)], capture_output=True, text=True
    ).stdout
    have = {}
    for line in listing.splitlines():
        f = line.split("/")
        if len(f) >= 6 and f[5]:
            have[f[5]] = int(f[2], 8)
    for e in entries:
        if e.kind == "c" and have.get(e.name) != stat.S_IFCHR | e.mode:
            raise ImageError(f"debugfs could not add /dev/{e.name}: {res.stderr.strip()[-200:]}")


def guest_site_packages(root: Path) -> Path:
    guest_py = sorted((root / "usr/lib").glob("python3.*"))
    pyver = guest_py[-1].name if guest_py else f"python3.{sys.version_info.minor}"
    return root / "usr/local/lib" / pyver / "dist-packages"


def finish(spec: FinishSpec) -> None:
    from .ext4 import make_ext4

    os.umask(0o022)
    root = Path(spec.rootfs)
    root.chmod(0o755)
    reset_dev(root)
    for rel in spec.strip:
        shutil.rmtree(root / rel, ignore_errors=True)
    if spec.overlay:
        copy_normalized(Path(spec.overlay), root)
    site = guest_site_packages(root)
    site.mkdir(parents=True, exist_ok=True)
    copy_normalized(Path(spec.pyroute2), site / "pyroute2", skip=("__pycache__",))
    # Byte-compile what we copied with the guest's own python, so the first import is not
    # also a compile (guest Python runs ~6x slower than the host's under TCG). Hash-based
    # pycs: the image never changes, and a pyc must not depend on when pip ran on the host.
    guest_site = f"/{site.relative_to(root)}/pyroute2"
    _chroot(
        root,
        "python3",
        "-m",
        "compileall",
        "-q",
        "--invalidation-mode",
        "unchecked-hash",
        guest_site,
    )
    packages = _chroot(root, "dpkg-query", "-W", "-f", "${Package} ${Version}\\n")
    populate_dev_tree(root)
    out = Path(spec.out)
    make_ext4(root, out, spec.label, spec.free_mb)
    add_device_nodes(out)
    Path(spec.packages_out).write_text(packages)
    for p in (out, Path(spec.packages_out)):
        os.chown(p, *spec.owner)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.image.finish")
    p.add_argument("spec", help="FinishSpec as JSON")
    args = p.parse_args(argv)
    try:
        finish(FinishSpec.from_json(args.spec))
    except ImageError as e:
        print(f"nsharness: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
