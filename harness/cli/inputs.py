"""Checks of what a user points the CLI at, before anything long starts: every problem is
one line naming the argument (exit 4 for a bad file, 2 for a bad option), never a
traceback and never after the run already spent minutes booting kernels."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import HarnessError, InputError, UsageError


def _named(flag: str, value: str, e: Exception) -> InputError:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    if msg.startswith(f"{flag} "):
        return InputError(msg)
    return InputError(f"{flag} {value}: {msg}")


def kernel_spec(spec: str, flag: str = "--kernel", modules: str | None = None) -> None:
    """A debian:... spec the archive offers, or a path holding a usable bzImage."""
    if spec.startswith("debian:"):
        from ..kernel import debian

        if not spec[7:]:
            raise UsageError(f"{flag} {spec}: say which kernel, e.g. debian:6.1 or debian:6.12")
        try:
            debian.pick(spec, debian.candidates())
        except HarnessError as e:
            raise _named(flag, spec, e) from None
        return
    from ..kernel import bzimage, resolve

    path = Path(spec).expanduser()
    if path.is_file():
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InputError(f"{flag} {spec}: cannot read: {e.strerror}") from None
        if not data:
            raise InputError(f"{flag} {spec}: the file is empty")
        try:
            bzimage.read_header(data)
        except HarnessError as e:
            raise _named(flag, spec, e) from None
    try:  # the whole resolution: config found or embedded, modules where they belong
        resolve(spec, Path(modules).expanduser() if modules else None).check_config()
    except HarnessError as e:
        raise _named(flag, spec, e) from None


def existing_dir(path: str, flag: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"{flag} {path}: no such directory")
    if not p.is_dir():
        raise InputError(f"{flag} {path}: not a directory")
    if not os.access(p, os.R_OK | os.X_OK):
        raise InputError(f"{flag} {path}: not readable")
    return p


def source_tree(path: str, flag: str = "--kernel-src") -> Path:
    p = existing_dir(path, flag)
    if not (p / "Makefile").is_file() or not (p / "Kconfig").is_file():
        raise InputError(f"{flag} {path}: not a kernel source tree (no Makefile/Kconfig)")
    return p


def config_file(path: str, flag: str) -> Path:
    from ..kernel.kconfig import looks_like_config

    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(
            f"{flag} {path}: no such file" if not p.exists() else f"{flag} {path}: not a file"
        )
    try:
        text = p.read_text(errors="replace")
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot read: {e.strerror}") from None
    if not looks_like_config(text):
        raise InputError(f"{flag} {path}: not a kernel config (no CONFIG_ lines)")
    return p


def writable_dir(path: str, flag: str) -> Path:
    """A directory results can be written to (created if missing), proven by writing."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise InputError(f"{flag} {path}: exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=p, prefix=".nsh-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot write there: {e.strerror}") from None
    return p


def report_path(path: str, flag: str = "--report") -> Path:
    p = Path(path).expanduser()
    if p.suffix == ".html":
        raise UsageError(
            f"{flag} {path}: the JSON report cannot be .html (its HTML goes beside it)"
        )
    if p.is_dir():
        raise InputError(f"{flag} {path}: is a directory; give a file name")
    writable_dir(str(p.parent), flag)
    return p
