"""Boot preparation on real kernel packages: module order, initrd archives, cache keys."""

import dataclasses
import socket
import subprocess

from harness.boot import files as bootfiles
from harness.boot import initrd, modtree
from harness.host.keys import installation_keys
from harness.vm import qemu


def _cpio_names(data: bytes) -> list[str]:
    res = subprocess.run(["cpio", "-t"], input=data, capture_output=True, check=True)
    return res.stdout.decode().split()


def test_boot_module_order_resolves_dependencies_first(debian_kernel, tmp_path):
    tree = modtree.prepare(debian_kernel.modules, debian_kernel.release, tmp_path / "m")
    deps = modtree.parse_modules_dep((tree / "modules.dep").read_text())
    order = modtree.load_order(deps, initrd.BOOT_MODULES, modtree.builtin(tree))
    names = [modtree.modname(p) for p in order]
    assert "virtio_net" in names and "virtio_blk" in names
    for i, path in enumerate(order):  # every dependency comes before its user
        for dep in deps[path]:
            assert dep in order[:i], f"{dep} must load before {path}"
    if debian_kernel.config["VIRTIO_PCI"] == "y":
        assert "virtio_pci" not in names  # built in: nothing to insert
    mods = modtree.boot_modules(tree, initrd.BOOT_MODULES)
    assert all(data[:4] == b"\x7fELF" for data in mods.values())  # decompressed .ko


def test_initrd_holds_init_and_drivers_but_never_keys(tmp_path):
    data = initrd.build_initrd({"virtio_net.ko": b"\x7fELF..."}, has_modules_disk=True)
    names = _cpio_names(data)
    assert {"init", "bin/busybox", "modules/virtio_net.ko", "modules/disk"} <= set(names)
    assert not any(n.startswith("keys/") for n in names)  # the cache never holds a key
    keys = installation_keys(tmp_path / "keys")
    private = set(_cpio_names(initrd.private_cpio(keys)))
    assert {"keys", "keys/authorized_keys", "keys/host_key", "agent/agent.py"} <= private
    assert (tmp_path / "keys" / "client_ed25519").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys" / "guest_host_ed25519").stat().st_mode & 0o777 == 0o600


def test_modules_less_kernel_gets_no_modules_disk_marker():
    names = _cpio_names(initrd.build_initrd({}, has_modules_disk=False))
    assert "modules/disk" not in names and "modules/load.order" in names


def test_boot_cache_key_follows_the_modules_tree(debian_kernel):
    same = bootfiles.boot_key(debian_kernel)
    assert bootfiles.boot_key(dataclasses.replace(debian_kernel)) == same
    other_mods = dataclasses.replace(debian_kernel, modules_hash="0" * 16)
    no_mods = dataclasses.replace(debian_kernel, modules=None, modules_hash=None)
    assert len({same, bootfiles.boot_key(other_mods), bootfiles.boot_key(no_mods)}) == 3


def test_keys_are_stable_per_installation_and_distinct_between(tmp_path):
    a1 = installation_keys(tmp_path / "a")
    a2 = installation_keys(tmp_path / "a")
    b = installation_keys(tmp_path / "b")
    assert a1.host.public_line == a2.host.public_line
    assert a1.host.public_line != b.host.public_line
    assert a1.client.public_line != a1.host.public_line
    # the dropbear-format key embeds the same public key the harness pins
    assert a1.host_pkey_public().asbytes()[-32:] == a1.dropbear_host_key()[-32:]


def test_free_port_is_bindable_on_loopback():
    port = qemu.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    assert 1024 < port < 65536
