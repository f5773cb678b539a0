"""Kernels: what a `--kernel` spec names, what the file says it is, what its config holds.

A kernel's identity comes from the bzImage itself (the setup header's kernel_version
string), never from a file name, so a renamed or self-built kernel is reported truthfully.
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .cache import atomic_dir, cache_root, locked
from .errors import KernelError

#: Options the scenarios and the guest boot need, built in (=y) or as a module (=m).
REQUIRED_OPTIONS: tuple[str, ...] = (
    "NET_NS",
    "UTS_NS",
    "IPC_NS",
    "PID_NS",
    "USER_NS",
    "SYSFS",
    "PROC_FS",
    "TMPFS",
    "DEVTMPFS",
    "BLK_DEV_INITRD",
    "UNIX",
    "INET",
    "PACKET",
    "VETH",
    "DUMMY",
    "MACVLAN",
    "VIRTIO_PCI",
    "VIRTIO_NET",
    "VIRTIO_BLK",
    "EXT4_FS",
    "SERIAL_8250_CONSOLE",
)

DEFAULT_SPEC = "debian:6.12"
DEBIAN_FLAVOUR = "cloud-amd64-unsigned"


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


def read_bzimage_header(data: bytes) -> BzImageHeader:
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
    return BzImageHeader(version, protocol, setup_sects, off, length)


_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x02\x21\x4c\x18", "lz4"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b", "gzip"),
    (b"\x5d\x00\x00", "lzma"),
    (b"BZh", "bzip2"),
)


def extract_vmlinux(data: bytes) -> bytes:
    """Decompress the ELF vmlinux a bzImage carries (what scripts/extract-vmlinux does).

    Booting that ELF through its PVH entry point skips the in-guest decompression,
    about a second of a TCG boot for a zstd kernel.
    """
    hdr = read_bzimage_header(data)
    base = (hdr.setup_sects + 1) * 512 + hdr.payload_offset
    # The payload ends with the 4-byte decompressed size (arch/x86/boot/compressed/mkpiggy.c).
    payload = data[base : base + hdr.payload_length - 4]
    kind = next((k for magic, k in _MAGICS if payload.startswith(magic)), None)
    if kind is None:
        raise KernelError(f"unknown kernel compression (payload starts {payload[:6].hex()})")
    if kind == "gzip":
        out = gzip.decompress(payload)
    elif kind in ("xz", "lzma"):
        out = lzma.LZMADecompressor().decompress(payload)
    else:
        tool = {"zstd": ["zstd", "-dcq"], "lz4": ["lz4", "-dcq"], "bzip2": ["bzip2", "-dc"]}[kind]
        try:
            res = subprocess.run(tool, input=payload, capture_output=True, check=False)
        except FileNotFoundError as e:
            raise KernelError(f"{kind}-compressed kernel needs '{tool[0]}' installed") from e
        out = res.stdout
    if not out.startswith(b"\x7fELF"):
        raise KernelError(f"decompressed {kind} payload is not an ELF vmlinux")
    return out


def parse_config(text: str) -> dict[str, str]:
    """Parse Kconfig output into {OPTION: value}; '# X is not set' maps to 'n'."""
    opts: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("CONFIG_") and "=" in line:
            key, val = line.split("=", 1)
            opts[key[7:]] = val.strip('"')
        else:
            m = re.match(r"# CONFIG_(\w+) is not set", line)
            if m:
                opts[m.group(1)] = "n"
    return opts


def ikconfig_from_vmlinux(vmlinux: bytes) -> str | None:
    """Return the config embedded by CONFIG_IKCONFIG (between IKCFG_ST and IKCFG_ED), if any."""
    start = vmlinux.find(b"IKCFG_ST")
    if start < 0:
        return None
    end = vmlinux.find(b"IKCFG_ED", start)
    blob = vmlinux[start + 8 : end if end > 0 else None]
    try:
        return gzip.decompress(blob).decode()
    except (OSError, EOFError):
        return None


def missing_options(
    config: dict[str, str], required: tuple[str, ...] = REQUIRED_OPTIONS
) -> list[str]:
    """Options in *required* that the config neither builds in nor as a module."""
    return [o for o in required if config.get(o) not in ("y", "m")]


@dataclass(frozen=True)
class Kernel:
    """A resolved kernel: the file to boot, who it says it is, and where its parts are."""

    spec: str
    image: Path
    release: str
    version: str
    config_text: str = field(repr=False)
    config_source: str
    modules: Path | None
    origin: str  # "file", "debian", "build"
    package: str | None = None
    package_version: str | None = None

    @property
    def config(self) -> dict[str, str]:
        return parse_config(self.config_text)

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(self.config_text.encode()).hexdigest()[:16]

    @property
    def image_hash(self) -> str:
        return _file_hash(self.image)

    @property
    def identity(self) -> str:
        """What pins this exact kernel build for a reproduction."""
        if self.package_version:
            return f"debian:{self.package_version}"
        if self.origin == "build":
            return f"{self.package} (release {self.release}, config {self.config_hash})"
        return f"{self.image} (release {self.release}, config {self.config_hash})"

    def to_dict(self) -> dict:
        """Plain values, to hand a resolved kernel to another process (xdist workers)."""
        return {f: str(v) if isinstance(v, Path) else v for f, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict) -> Kernel:
        paths = {k: Path(d[k]) if d[k] is not None else None for k in ("image", "modules")}
        return cls(**{**d, **paths})

    def check_config(self, required: tuple[str, ...] = REQUIRED_OPTIONS) -> None:
        missing = missing_options(self.config, required)
        if missing:
            names = ", ".join(f"CONFIG_{m}" for m in missing)
            raise KernelError(
                f"kernel {self.release} ({self.config_source}) lacks options the scenarios "
                f"need: {names}"
            )


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _find_modules(root: Path, release: str) -> Path | None:
    for cand in (root / "lib" / "modules" / release, root / "usr" / "lib" / "modules" / release):
        if cand.is_dir():
            return cand
    return None


def load_kernel(
    image: Path,
    *,
    spec: str | None = None,
    modules: Path | None = None,
    config: Path | None = None,
    origin: str = "file",
    package: str | None = None,
    package_version: str | None = None,
) -> Kernel:
    """Read a bzImage and locate its config and modules (beside it or as given)."""
    image = image.resolve()
    if not image.is_file():
        raise KernelError(f"kernel image not found: {image}")
    data = image.read_bytes()
    hdr = read_bzimage_header(data)
    release = hdr.release
    # Where things sit beside the image: an unpacked package (boot/vmlinuz-R, lib/modules/R)
    # or a build tree (arch/x86/boot/bzImage with .config at the top).
    roots = [image.parent.parent, image.parent.parent.parent.parent.parent]
    cfg_text, cfg_source = None, ""
    cands = [config] if config else []
    cands += [image.parent / f"config-{release}"] + [r / ".config" for r in roots]
    for cand in cands:
        if cand and cand.is_file():
            cfg_text, cfg_source = cand.read_text(), str(cand)
            break
    if cfg_text is None:
        cfg_text = ikconfig_from_vmlinux(extract_vmlinux(data))
        cfg_source = "embedded IKCONFIG"
    if cfg_text is None:
        raise KernelError(
            f"no config for kernel {release}: no config-{release} beside it, no .config, "
            "no IKCONFIG; pass --kernel-config"
        )
    if modules is None:
        for r in roots:
            modules = _find_modules(r, release)
            if modules:
                break
    elif not (modules / "modules.order").exists() and _find_modules(modules, release):
        modules = _find_modules(modules, release)
    return Kernel(
        spec=spec or str(image),
        image=image,
        release=release,
        version=hdr.version_string,
        config_text=cfg_text,
        config_source=cfg_source,
        modules=modules,
        origin=origin,
        package=package,
        package_version=package_version,
    )


# ---------------------------------------------------------------- Debian kernels


@dataclass(frozen=True)
class DebianPackage:
    name: str
    version: str


def _natural_key(s: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def debian_candidates() -> list[DebianPackage]:
    """Every cloud-amd64 unsigned kernel package the configured apt archive offers."""
    try:
        names = subprocess.run(
            ["apt-cache", "search", "--names-only", rf"^linux-image-.*-{DEBIAN_FLAVOUR}$"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (FileNotFoundError, subprocess.CalledProcessError) as e:
        raise KernelError(f"cannot query apt for Debian kernels: {e}") from e
    names = [n for n in names if n.startswith("linux-image-") and n.endswith(DEBIAN_FLAVOUR)]
    if not names:
        raise KernelError(
            "apt offers no linux-image-*-cloud-amd64-unsigned packages (run 'apt-get update' first)"
        )
    out = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", *names],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    pkgs, name = [], None
    for line in out.splitlines():
        if line.startswith("Package: "):
            name = line.split(": ", 1)[1]
        elif line.startswith("Version: ") and name:
            pkgs.append(DebianPackage(name, line.split(": ", 1)[1]))
            name = None
    return pkgs


def pick_debian(spec: str, candidates: list[DebianPackage]) -> DebianPackage:
    """Choose the package a `debian:...` spec names.

    `debian:6.12` is the newest of that series; `debian:6.1.192-2` an exact package
    version; `debian:linux-image-...` an exact package name.
    """
    want = spec.split(":", 1)[1]
    exact = [p for p in candidates if want in (p.version, p.name)]
    if exact:
        return exact[0]
    if re.fullmatch(r"\d+\.\d+", want):
        series = [p for p in candidates if re.match(rf"linux-image-{re.escape(want)}[.-]", p.name)]
        if series:
            return max(series, key=lambda p: _natural_key(p.version))
    offered = ", ".join(sorted({p.version for p in candidates}, key=_natural_key))
    raise KernelError(f"no Debian cloud kernel matches '{spec}' (offered: {offered})")


def fetch_debian(pkg: DebianPackage, spec: str) -> Kernel:
    """Download and unpack a Debian kernel package once; later runs reuse the cache."""
    dest = cache_root() / "kernels" / f"{pkg.name}_{pkg.version}"
    with locked(dest):
        if not (dest / "boot").is_dir():
            with atomic_dir(dest) as tmp, tempfile.TemporaryDirectory() as dl:
                res = subprocess.run(
                    ["apt-get", "download", f"{pkg.name}={pkg.version}"],
                    cwd=dl,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                debs = list(Path(dl).glob("*.deb"))
                if res.returncode != 0 or not debs:
                    last = (res.stderr.strip().splitlines() or ["no .deb downloaded"])[-1]
                    raise KernelError(f"apt-get download {pkg.name}={pkg.version} failed: {last}")
                subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tmp)], check=True)
    images = sorted((dest / "boot").glob("vmlinuz-*"))
    if not images:
        raise KernelError(f"package {pkg.name} holds no boot/vmlinuz-*")
    return load_kernel(
        images[0],
        spec=spec,
        origin="debian",
        package=pkg.name,
        package_version=pkg.version,
    )


def resolve(spec: str | None, modules: Path | None = None) -> Kernel:
    """Turn a `--kernel` value into a Kernel: a path, or `debian:SERIES|VERSION|PACKAGE`."""
    spec = spec or DEFAULT_SPEC
    if spec.startswith("debian:"):
        return fetch_debian(pick_debian(spec, debian_candidates()), spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        for cand in [path / "arch/x86/boot/bzImage", *sorted(path.glob("boot/vmlinuz-*"))]:
            if cand.is_file():
                return load_kernel(cand, spec=spec, modules=modules)
        raise KernelError(f"no bzImage in directory {path}")
    if not path.exists():
        raise KernelError(f"--kernel {spec}: no such file (or use debian:6.1 / debian:6.12)")
    return load_kernel(path, spec=spec, modules=modules)
