"""What an ext4 image holds, path by path, read without mounting it (debugfs needs no root).

Used to prove that two builds of the guest image (root's and an ordinary user's) hold the
same files with the same owners, modes and contents.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import HarnessError
from ..host.hostpath import which

_KINDS = {
    stat.S_IFREG: "f",
    stat.S_IFDIR: "d",
    stat.S_IFLNK: "l",
    stat.S_IFCHR: "c",
    stat.S_IFBLK: "b",
    stat.S_IFIFO: "p",
    stat.S_IFSOCK: "s",
}


@dataclass(frozen=True)
class Entry:
    path: str
    kind: str  # f d l c b p s
    uid: int
    gid: int
    mode: int  # permission bits, setuid/setgid/sticky included
    content: str  # sha256 (files), target (symlinks), "major:minor" (devices), else ""

    def line(self) -> str:
        return f"{self.path} {self.kind} {self.uid}:{self.gid} {self.mode:04o} {self.content}"


def _debugfs(image: Path, commands: list[str]) -> str:
    res = subprocess.run(
        [which("debugfs") or "debugfs", "-f", "-", str(image)],
        input="".join(c + "\n" for c in commands),
        capture_output=True,
        text=True,
        errors="surrogateescape",
    )
    if res.returncode != 0:
        raise HarnessError(f"debugfs cannot read {image}: {res.stderr.strip()[-200:]}")
    return res.stdout


def _quote(path: str) -> str:
    return '"' + path.replace('"', '\\"') + '"'


def parse_ls_p(output: str) -> dict[str, tuple[int, int, int]]:
    """`ls -p DIR` output of a debugfs command file -> {path: (st_mode, uid, gid)}."""
    out: dict[str, tuple[int, int, int]] = {}
    cur = None
    for line in output.splitlines():
        if line.startswith("debugfs: ls -p "):
            cur = line[len("debugfs: ls -p ") :].strip().strip('"')
            continue
        f = line.split("/")
        # /inode/mode/uid/gid/name/size/
        if cur is None or len(f) < 7 or f[0] != "" or not f[1].isdigit():
            continue
        name = "/".join(f[5:-2])
        mode, uid, gid = int(f[2], 8), int(f[3]), int(f[4])
        if name == "..":
            continue
        path = cur if name == "." else (cur.rstrip("/") + "/" + name)
        out[path] = (mode, uid, gid)
    return out


def parse_devices(output: str) -> dict[str, str]:
    """`stat PATH` output for device nodes -> {path: "major:minor"}."""
    out, cur = {}, None
    for line in output.splitlines():
        if line.startswith("debugfs: stat "):
            cur = line[len("debugfs: stat ") :].strip().strip('"')
        m = re.search(r"Device major/minor number: (\d+):(\d+)", line)
        if m and cur:
            out[cur] = f"{int(m.group(1))}:{int(m.group(2))}"
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(image: Path) -> dict[str, Entry]:
    """Every path in *image*: type, owner, group, mode, and what it holds."""
    with tempfile.TemporaryDirectory(prefix="nsh-manifest-") as tmp:
        tree = Path(tmp)
        _debugfs(image, [f"rdump / {_quote(str(tree))}"])
        dirs = ["/"]
        for root, dirnames, _files in os.walk(tree):
            rel = "/" + os.path.relpath(root, tree) if root != str(tree) else "/"
            dirs += [(rel.rstrip("/") + "/" + d) for d in dirnames]
        meta = parse_ls_p(_debugfs(image, [f"ls -p {_quote(d)}" for d in dirs]))
        devices = [p for p, (m, _u, _g) in meta.items() if stat.S_ISCHR(m) or stat.S_ISBLK(m)]
        rdev = parse_devices(_debugfs(image, [f"stat {_quote(p)}" for p in devices]))
        out = {}
        for path, (mode, uid, gid) in meta.items():
            kind = _KINDS.get(stat.S_IFMT(mode), "?")
            local = tree / path.lstrip("/")
            if kind == "f":
                if not os.access(local, os.R_OK):
                    local.chmod(0o600)  # our extracted copy: a 0000 file is still content
                content = _sha256(local)
            elif kind == "l":
                content = os.readlink(local)
            elif kind in "cb":
                content = rdev.get(path, "?")
            else:
                content = ""
            out[path] = Entry(path, kind, uid, gid, stat.S_IMODE(mode), content)
        return out


def compare(a: dict[str, Entry], b: dict[str, Entry], allowed: dict[str, str]) -> list[str]:
    """Differences between two manifests, except content differences of *allowed* paths
    (each named with the reason it cannot be the same twice)."""
    diffs = []
    for path in sorted(a.keys() | b.keys()):
        ea, eb = a.get(path), b.get(path)
        if ea is None or eb is None:
            diffs.append(f"only in {'second' if ea is None else 'first'}: {(ea or eb).line()}")
            continue
        if ea == eb:
            continue
        same_meta = (ea.kind, ea.uid, ea.gid, ea.mode) == (eb.kind, eb.uid, eb.gid, eb.mode)
        if same_meta and path in allowed:
            continue
        diffs.append(f"differs: {ea.line()}  !=  {eb.line()}")
    return diffs
