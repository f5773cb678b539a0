"""Where the files the harness ships live: in an installed wheel, or in a source checkout.

The top-level vm-images/ (guest recipe, initrd init) and tests/scenarios/ (the scenario
suite) are the sources; a wheel carries copies under harness/_shipped/ (see setup.py), so
a project that `pip install`s nsharness boots the same guests and can run the same suite.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent  # harness/
SHIPPED = PACKAGE / "_shipped"
CHECKOUT = PACKAGE.parent


def _pick(shipped: str, checkout: str) -> Path:
    installed = SHIPPED / shipped
    return installed if installed.is_dir() else CHECKOUT / checkout


def vm_images() -> Path:
    """The guest image recipes and the initrd's init."""
    return _pick("vm-images", "vm-images")


def scenarios() -> Path:
    """The namespace scenario suite `nsharness run` runs by default."""
    return _pick("scenarios", "tests/scenarios")


def data(name: str) -> Path:
    """A file under harness/data (schema, config fragment, behaviour catalogue)."""
    return PACKAGE / "data" / name


def guest_code() -> Path:
    """The guest agent's modules, copied into every VM."""
    return PACKAGE / "guest"
