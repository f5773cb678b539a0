"""Kernel configs: parsing Kconfig output, the embedded IKCONFIG, and what the suite needs."""

from __future__ import annotations

import gzip
import re
import zlib

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
    "VIRTIO_CONSOLE",
    "EXT4_FS",
    "SERIAL_8250_CONSOLE",
)


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


def looks_like_config(text: str) -> bool:
    """Does this text look like a kernel .config at all (not some other file)?"""
    return any(line.startswith("CONFIG_") for line in text.splitlines()[:400])


def ikconfig_from_vmlinux(vmlinux: bytes) -> str | None:
    """Return the config embedded by CONFIG_IKCONFIG (between IKCFG_ST and IKCFG_ED), if any."""
    start = vmlinux.find(b"IKCFG_ST")
    if start < 0:
        return None
    end = vmlinux.find(b"IKCFG_ED", start)
    blob = vmlinux[start + 8 : end if end > 0 else None]
    try:
        return gzip.decompress(blob).decode(errors="replace")
    except (OSError, EOFError, zlib.error):
        return None


def missing_options(
    config: dict[str, str], required: tuple[str, ...] = REQUIRED_OPTIONS
) -> list[str]:
    """Options in *required* that the config neither builds in nor as a module."""
    return [o for o in required if config.get(o) not in ("y", "m")]
