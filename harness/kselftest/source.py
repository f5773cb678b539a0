"""The source a kernel was built from, as selftests must be built from it: the `--kernel-src`
tree itself, or for a Debian kernel the `linux-source-X.Y` package of exactly the kernel
package's version (Debian builds both from one upload). A kernel given as a bare file has no
known source. The tree's uapi headers (`make headers`, out of tree) are built once per source.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..host.cache import atomic_dir, cache_root, locked
from .spec import KselftestError, NotInSource

#: What of Debian's source tarball selftests need: the targets and tools/ (libs, headers,
#: ynl), and enough of the top level to run `make headers` (uapi headers of this tree).
SOURCE_PARTS = (
    "Makefile",
    "Kbuild",
    "Kconfig",
    "arch/Kconfig",
    "arch/x86/*",
    "include/*",
    "scripts/*",
    "tools/*",
    "usr/*",
    "Documentation/netlink/*",
)


@dataclass(frozen=True)
class Source:
    """A kernel source tree that selftests are built from, and what names it."""

    tree: Path  # top of the (possibly partial) kernel source tree
    identity: str  # for reports: "debian:linux-source-6.1=6.1.192-2", "/src/linux@<commit>"
    key: str  # cache directory name for this source
    fingerprint: str  # changes whenever what we build from changes
    origin: str  # "debian" or "tree"

    @property
    def selftests(self) -> Path:
        return self.tree / "tools" / "testing" / "selftests"


def debian_source_package(version: str) -> str:
    """The linux-source package built from the same upload as a kernel package version:
    6.1.192-2 -> linux-source-6.1, 6.12.117-1~deb12u1 -> linux-source-6.12."""
    m = re.match(r"^(\d+\.\d+)\.", version)
    if not m:
        raise NotInSource(f"cannot tell the kernel series of Debian version '{version}'")
    return f"linux-source-{m.group(1)}"


def debian_source(version: str) -> Source:
    """Download and unpack (once) the selftests part of linux-source-X.Y=*version*."""
    pkg = debian_source_package(version)
    key = f"{pkg}_{version}".replace("~", "_")
    dest = cache_root() / "kselftest" / "src" / key
    with locked(dest, f"unpacking {pkg}={version}"):
        if not (dest / "tree" / "tools" / "testing" / "selftests").is_dir():
            with atomic_dir(dest) as tmp:
                _fetch_debian_source(pkg, version, tmp)
    return Source(
        tree=dest / "tree",
        identity=f"debian:{pkg}={version}",
        key=key,
        fingerprint=f"{pkg}={version}",
        origin="debian",
    )


def _fetch_debian_source(pkg: str, version: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(dir=out) as dl:
        res = subprocess.run(
            ["apt-get", "download", f"{pkg}={version}"],
            cwd=dl,
            capture_output=True,
            text=True,
            check=False,
        )
        debs = list(Path(dl).glob("*.deb"))
        if res.returncode != 0 or not debs:
            last = (res.stderr.strip().splitlines() or ["no .deb downloaded"])[-1]
            raise KselftestError(
                f"kselftests need {pkg}={version} (the kernel's own source) but apt-get "
                f"download failed: {last} (see 'apt-cache policy {pkg}')"
            )
        tarball = f"./usr/src/{pkg}.tar.xz"
        # dpkg-deb --fsys-tarfile | tar: only the source tarball, never the whole package.
        deb = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", dl, tarball], stdin=deb.stdout, check=True)
        deb.wait()
        top = pkg  # the tarball's top directory is linux-source-X.Y
        parts = [f"{top}/{p}" for p in SOURCE_PARTS]
        xz = subprocess.Popen(["xz", "-dc", "-T0", f"{dl}/{tarball}"], stdout=subprocess.PIPE)
        res = subprocess.run(
            ["tar", "-x", "-C", str(out), "--wildcards", *parts],
            stdin=xz.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        xz.wait()
        if res.returncode != 0 or xz.returncode != 0:
            raise KselftestError(f"cannot unpack {pkg}={version}: {res.stderr.strip()[-300:]}")
        (out / top).rename(out / "tree")


def tree_source(src: Path) -> Source:
    """A kernel source tree given with --kernel-src (a git checkout or not)."""
    from ..kernel.build import source_commit

    src = src.expanduser().resolve()
    if not (src / "tools" / "testing" / "selftests" / "lib.mk").is_file():
        raise NotInSource(f"{src}: no tools/testing/selftests/lib.mk (not a kernel source tree)")
    commit, dirty = source_commit(src)
    key = f"{src.name}-{hashlib.sha256(str(src).encode()).hexdigest()[:12]}"
    at = f"@{commit}{'-dirty' if dirty else ''}" if commit else ""
    return Source(
        tree=src,
        identity=f"{src}{at}",
        key=key,
        fingerprint=_tree_fingerprint(src),
        origin="tree",
    )


def _tree_fingerprint(src: Path) -> str:
    """Names, sizes and mtimes of what a selftest build reads (as make itself would judge)."""
    h = hashlib.sha256()
    for part in ("Makefile", "include/uapi", "arch/x86/include/uapi", "tools"):
        p = src / part
        files = [p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else []
        for f in files:
            try:
                st = f.stat()
            except OSError:
                continue
            if f.is_file():
                h.update(f"{f.relative_to(src)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def source_for(kernel) -> Source:
    """The source a kernel (harness.kernel.Kernel) was built from, by its provenance."""
    p = kernel.provenance
    if p.kind == "source" and p.tree:
        return tree_source(Path(p.tree))
    if p.kind == "debian" and p.package_version:
        return debian_source(p.package_version)
    raise NotInSource(
        f"kselftests need the source of kernel {kernel.release} ({p.spec}): test a tree "
        "with --kernel-src DIR (only Debian kernels and built trees have a known source)"
    )


def headers(source: Source) -> Path:
    """This tree's uapi headers (`make headers`, out of tree), built once per source."""
    out = cache_root() / "kselftest" / "headers" / source.key
    stamp = out / ".nsharness-fingerprint"
    with locked(out, f"make headers for {source.identity}"):
        if stamp.is_file() and stamp.read_text() == source.fingerprint:
            return out / "usr" / "include"
        out.mkdir(parents=True, exist_ok=True)
        log = out / "headers.log"
        cmd = ["make", "-C", str(source.tree), f"O={out}", f"-j{os.cpu_count() or 1}", "headers"]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        log.write_text(f"$ {' '.join(cmd)}\n{res.stdout}{res.stderr}")
        if res.returncode != 0:
            tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise KselftestError(f"make headers failed in {source.tree}: {tail} (log {log})")
        stamp.write_text(source.fingerprint)
    return out / "usr" / "include"
