"""Content hashes of kernel images and module trees, memoised by their stat fingerprint.

A module tree is ~1100 files (25-90 MB): hashing it costs ~0.3 s, paid once per tree
state. The memo is keyed by every file's (path, size, mtime), so a rebuild that rewrites
modules gets a new hash while an untouched tree costs one walk.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..host.cache import atomic_file, cache_root


def file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _walk(root: Path) -> list[tuple[str, os.stat_result, str | None]]:
    """Every entry under *root* (not following symlinks), sorted, with link targets."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files) + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            target = os.readlink(p) if os.path.islink(p) else None
            out.append((os.path.relpath(p, root), st, target))
    return out


def tree_hash(root: Path) -> str:
    """Hash of a directory's regular files' names and contents (symlinks by target)."""
    entries = _walk(root)
    stamp = hashlib.sha256(
        "\n".join(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{t}" for rel, st, t in entries).encode()
    ).hexdigest()
    memo = cache_root() / "fingerprints" / f"{stamp[:32]}.json"
    try:
        return json.loads(memo.read_text())["hash"]
    except (OSError, ValueError, KeyError):
        pass
    h = hashlib.sha256()
    for rel, st, target in entries:
        h.update(rel.encode() + b"\0")
        if target is not None:
            h.update(b"->" + target.encode())
        elif os.path.isfile(root / rel) and not os.path.islink(root / rel):
            h.update(st.st_size.to_bytes(8, "little"))
            h.update(file_hash(root / rel).encode())
    digest = h.hexdigest()[:16]
    with atomic_file(memo) as tmp:
        tmp.write_text(json.dumps({"hash": digest, "root": str(root)}))
    return digest
