"""Crafted inputs against what the harness reads and writes as root: module trees and
kernel images from anywhere, files planted by another local user, the cache CI uploads."""

import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from harness import kernel
from harness.boot import files as bootfiles
from harness.boot import initrd, modtree
from harness.errors import KernelError
from harness.host.cache import cache_root
from harness.host.keys import installation_keys
from harness.kernel import bzimage
from harness.report import SCHEMA_VERSION, Report
from harness.report.html import render

DATA = Path(__file__).parent.parent / "data"
SECRET = b"NSH-SECRET-" + os.urandom(8).hex().encode()


def _copy_tree(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, symlinks=True, copy_function=os.link)
    return dest


def test_symlinked_module_never_pulls_a_host_file_into_the_initrd(debian_kernel, tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET)
    tree = _copy_tree(debian_kernel.modules, tmp_path / "mods" / debian_kernel.release)
    victim = next(tree.rglob("virtio_net.ko*"))
    victim.unlink()
    victim.symlink_to(secret)
    prepared = modtree.prepare(tree, debian_kernel.release, tmp_path / "out")
    assert not any(p.is_symlink() for p in prepared.rglob("virtio_net.ko*"))
    if debian_kernel.config.get("VIRTIO_NET") == "m":
        with pytest.raises(KernelError, match="virtio_net"):
            modtree.boot_modules(prepared, initrd.BOOT_MODULES)
    for f in prepared.rglob("*"):
        assert not f.is_file() or SECRET not in f.read_bytes()


def test_traversal_in_modules_dep_is_ignored_and_refused(debian_kernel, tmp_path):
    tree = _copy_tree(debian_kernel.modules, tmp_path / "mods" / debian_kernel.release)
    secret = tmp_path / "secret.ko"
    secret.write_bytes(SECRET)
    (tree / "modules.dep").write_text(f"../../secret.ko:\nkernel/virtio_net.ko: {secret}\n")
    prepared = modtree.prepare(tree, debian_kernel.release, tmp_path / "out")
    assert "secret" not in (prepared / "modules.dep").read_text()  # depmod wrote its own
    for bad in ("../../secret.ko", str(secret), "kernel/../../../secret.ko"):
        with pytest.raises(KernelError, match="outside the tree"):
            modtree.inside(prepared, bad)


def _with_version(image: bytes, version: bytes) -> bytes:
    """The same bzImage with another kernel_version string in its setup header."""
    data = bytearray(image)
    start = struct.unpack_from("<H", data, 0x20E)[0] + 0x200
    old_len = data[start:].index(b"\0")
    assert len(version) <= old_len
    data[start : start + old_len] = version.ljust(old_len, b"\0")
    return bytes(data)


@pytest.mark.parametrize("release", [b"../../../tmp/evil", b"6.1/../../x", b".."])
def test_traversal_in_the_release_string_is_refused(debian_kernel, tmp_path, release):
    crafted = tmp_path / "bzImage"
    crafted.write_bytes(_with_version(debian_kernel.image.read_bytes(), release + b" (x) #1"))
    with pytest.raises(KernelError, match="unusable release"):
        bzimage.read_header(crafted.read_bytes())
    with pytest.raises(KernelError):
        kernel.resolve(str(crafted))


def test_config_and_modules_planted_above_a_kernel_path_are_not_used(debian_kernel, tmp_path):
    planted = tmp_path / "x"
    (planted / "y").mkdir(parents=True)
    (planted / ".config").write_text("CONFIG_PLANTED=y\n" + debian_kernel.config_text)
    (planted / "lib/modules" / debian_kernel.release).mkdir(parents=True)
    img = planted / "y" / "bzImage"
    shutil.copy(debian_kernel.image, img)
    try:
        k = kernel.resolve(str(img))
    except KernelError as e:  # no config of its own: refused, not the planted one
        assert "no config" in str(e)
        return
    assert "PLANTED" not in k.config_text and k.modules is None


def test_a_symlink_planted_at_the_report_path_is_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    for planted in ("report.tmp", ".report.json.tmp", "report.html.tmp"):
        (out / planted).symlink_to(victim)
    rep = Report.load(DATA / "report-real.json")
    rep.write(out / "report.json")
    assert victim.read_text() == "precious"
    assert json.loads((out / "report.json").read_text())["schema_version"] == SCHEMA_VERSION
    assert not (out / "report.json").is_symlink()
    assert "<table>" in render(rep)


def test_the_cache_never_holds_the_guest_private_key(debian_kernel, tmp_path):
    keys = installation_keys(tmp_path / "keys")
    seed = keys.dropbear_host_key()[-64:-32]  # the ed25519 private seed
    files = bootfiles.ensure(debian_kernel)
    boot_dir = files.initrd.parent
    for f in boot_dir.rglob("*"):
        if f.is_file():
            assert seed not in f.read_bytes(), f"private key bytes in cached {f}"
    private = initrd.initrd_with_keys(files.initrd, keys, tmp_path / "vm" / "initrd.cpio")
    assert seed in private.read_bytes() and private.stat().st_mode & 0o777 == 0o600
    assert cache_root() not in private.parents
