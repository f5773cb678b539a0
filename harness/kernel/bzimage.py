"""The x86 bzImage file: its setup header, and the ELF vmlinux packed inside it.

The release a kernel reports comes from this header (never from a file name), and booting
the extracted ELF through its PVH entry skips the in-guest decompression (about a second
of a TCG boot for a zstd kernel). Every way a file can be wrong here — not a bzImage,
truncated, a corrupt payload — is a KernelError naming the file, never a traceback.
"""

from __future__ import annotations

import gzip
import lzma
import re
import struct
import subprocess
import zlib
from dataclasses import dataclass

from ..errors import KernelError

#: What a release may contain before it is used in file names and cache paths.
_RELEASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$")


@dataclass(frozen=True)
class BzImageHeader:
    """The fields of the x86 boot protocol header the harness uses."""

    version_string: str  # e.g. "6.1.0-56-cloud-amd64 (debian-kernel@...) #1 SMP ..."
    protocol: int  # boot protocol version, e.g. 0x20f
    setup_sects: int
    payload_offset: int
    payload_length: int

    @property
    def release(self) -> str:
        return self.version_string.split(" ", 1)[0]


def check_release(release: str, what: str = "kernel") -> str:
    """A release string safe to use as one path component (no '/', no '..')."""
    if not _RELEASE.match(release) or ".." in release:
        raise KernelError(f"{what} has an unusable release string {release[:80]!r}")
    return release


def read_header(data: bytes) -> BzImageHeader:
    """Parse the setup header of a bzImage (Documentation/arch/x86/boot.rst)."""
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        raise KernelError("not an x86 bzImage (no 'HdrS' boot header)")
    protocol = struct.unpack_from("<H", data, 0x206)[0]
    if protocol < 0x208:
        raise KernelError(f"boot protocol {protocol:#x} too old (need 2.08+)")
    setup_sects = data[0x1F1] or 4
    ver_ptr = struct.unpack_from("<H", data, 0x20E)[0]
    start = ver_ptr + 0x200
    raw = data[start : start + 256].split(b"\0", 1)[0]
    version = raw.decode("ascii", "replace").strip()
    if not version:
        raise KernelError("bzImage header has no kernel_version string")
    off, length = struct.unpack_from("<II", data, 0x248)
    hdr = BzImageHeader(version, protocol, setup_sects, off, length)
    check_release(hdr.release, "bzImage header")
    if (setup_sects + 1) * 512 + off + length > len(data):
        raise KernelError(
            f"bzImage is truncated: its header promises {length} payload bytes, "
            f"the file holds {len(data)} in all"
        )
    return hdr


_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b", "gzip"),
    (b"\x5d\x00\x00", "lzma"),
    (b"BZh", "bzip2"),
)
_TOOLS = {"zstd": ["zstd", "-dcq"], "lz4": ["lz4", "-dcq"], "bzip2": ["bzip2", "-dc"]}


def _decompress(kind: str, payload: bytes) -> bytes:
    if kind == "gzip":
        return gzip.decompress(payload)
    if kind in ("xz", "lzma"):
        return lzma.LZMADecompressor().decompress(payload)
    tool = _TOOLS[kind]
    try:
        res = subprocess.run(tool, input=payload, capture_output=True, check=False, timeout=120)
    except FileNotFoundError as e:
        raise KernelError(f"{kind}-compressed kernel needs '{tool[0]}' installed") from e
    except subprocess.TimeoutExpired as e:
        raise KernelError(f"{tool[0]} took over 120 s to decompress the kernel") from e
    if res.returncode != 0:
        why = res.stderr.decode(errors="replace").strip().splitlines()
        raise KernelError(f"the bzImage's {kind} payload is corrupt: {(why or ['?'])[-1][:200]}")
    return res.stdout


def extract_vmlinux(data: bytes) -> bytes:
    """Decompress the ELF vmlinux a bzImage carries (what scripts/extract-vmlinux does)."""
    hdr = read_header(data)
    base = (hdr.setup_sects + 1) * 512 + hdr.payload_offset
    # The payload ends with the 4-byte decompressed size (arch/x86/boot/compressed/mkpiggy.c).
    payload = data[base : base + hdr.payload_length - 4]
    kind = next((k for magic, k in _MAGICS if payload.startswith(magic)), None)
    if kind is None:
        raise KernelError(f"unknown kernel compression (payload starts {payload[:6].hex()})")
    try:
        out = _decompress(kind, payload)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise KernelError(f"the bzImage's {kind} payload is corrupt: {e}") from e
    if not out.startswith(b"\x7fELF"):
        raise KernelError(f"decompressed {kind} payload is not an ELF vmlinux")
    return out
