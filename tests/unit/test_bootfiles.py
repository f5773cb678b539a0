"""Boot preparation logic on real kernel packages: module order, initrd archive, ports."""

import socket
import subprocess

from harness import bootfiles, qemu
from harness.keys import installation_keys


def test_boot_module_order_resolves_dependencies_first(debian_kernel, tmp_path):
    tree = bootfiles._prepare_modules(debian_kernel, tmp_path)
    deps = bootfiles.parse_modules_dep((tree / "modules.dep").read_text())
    order = bootfiles.load_order(deps, bootfiles.BOOT_MODULES, bootfiles._builtin(tree))
    names = [bootfiles._modname(p) for p in order]
    assert "virtio_net" in names and "virtio_blk" in names
    for i, path in enumerate(order):  # every dependency comes before its user
        for dep in deps[path]:
            assert dep in order[:i], f"{dep} must load before {path}"
    if debian_kernel.config["VIRTIO_PCI"] == "y":
        assert "virtio_pci" not in names  # built in: nothing to insert


def test_initrd_is_a_valid_cpio_with_init_and_keys(tmp_path):
    keys = installation_keys(tmp_path / "keys")
    data = bootfiles.build_initrd(None, [], keys)
    listing = subprocess.run(["cpio", "-t"], input=data, capture_output=True, check=True)
    names = listing.stdout.decode().split()
    assert {"init", "bin/busybox", "keys/host_key", "keys/authorized_keys"} <= set(names)
    assert (tmp_path / "keys" / "client_ed25519").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys" / "guest_host_ed25519").stat().st_mode & 0o777 == 0o600


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
