"""The CI cache key for ~/.cache/nsharness: every input of what the cache holds, named.

A key that misses an input restores stale entries (a new Debian kernel upload, a changed
image recipe) or never hits. So the key is composed here, where a unit test can check it,
from what the harness itself resolves: the exact kernel package a `debian:` spec picks
today (apt-cache, no download), the image recipe hash (recipe dir + pyroute2 version, as
image.ensure keys its cache), the boot-file inputs (initrd init, harness/boot) and the
kselftest build format. The workflow runs `python -m harness.cikey --kernel SPEC` and feeds
`key` / `restore` from $GITHUB_OUTPUT to actions/cache.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import HarnessError
from ..host.resources import CHECKOUT

ROOT = CHECKOUT
#: Files outside the recipe that shape cached entries (boot files, kselftest builds).
EXTRA_INPUTS = (
    "vm-images/initrd/init",
    "harness/boot/files.py",
    "harness/boot/initrd.py",
    "harness/boot/modtree.py",
    "harness/boot/cpio.py",
    "harness/kselftest/source.py",
    "harness/kselftest/build.py",
)
KEY_FORMAT = "v1"


@dataclass(frozen=True)
class CacheKey:
    key: str
    restore: str  # prefix for restore-keys: same kernel and image, other harness inputs
    kernel: str  # what the kernel spec resolved to (package=version, or file hash)
    image: str  # image recipe hash


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+~=-]+", "_", text)


def files_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT)).encode() + b"\0")
        h.update(p.read_bytes() if p.is_file() else b"(missing)")
    return h.hexdigest()[:12]


def compose(kernel_id: str, image_hash: str, inputs_hash: str) -> CacheKey:
    """The key from its parts. Kernel first: a matrix job only ever restores its kernel."""
    base = f"nsharness-{KEY_FORMAT}-{_safe(kernel_id)}-img-{image_hash}"
    return CacheKey(f"{base}-in-{inputs_hash}", f"{base}-", kernel_id, image_hash)


def kernel_id(spec: str) -> str:
    """`debian:6.1` -> `linux-image-6.1.0-56-cloud-amd64-unsigned=6.1.192-2` (as run would pick)."""
    if spec.startswith("debian:"):
        from ..kernel.debian import candidates, pick

        pkg = pick(spec, candidates())
        return f"{pkg.name}={pkg.version}"
    path = Path(spec).expanduser()
    if path.is_file():
        return f"file-{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    raise HarnessError(f"cache key: kernel spec '{spec}' is neither debian:... nor a file")


def cache_key(spec: str, recipe: str = "bookworm") -> CacheKey:
    from ..image import Recipe

    image_hash = Recipe.load(recipe).hash
    return compose(kernel_id(spec), image_hash, files_hash([ROOT / f for f in EXTRA_INPUTS]))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m harness.cikey", description=__doc__)
    ap.add_argument("--kernel", required=True, help="kernel spec, e.g. debian:6.1")
    ap.add_argument("--recipe", default="bookworm", help="guest image recipe")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        k = cache_key(args.kernel, args.recipe)
    except HarnessError as e:
        print(f"nsharness: {e}", file=sys.stderr)
        return 2
    print(f"key={k.key}\nrestore={k.restore}\nkernel={k.kernel}\nimage={k.image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
