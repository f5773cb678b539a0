"""bzImage header parsing and config checks on the real Debian kernels."""

import dataclasses
import re

import pytest

from harness import kernel
from harness.errors import KernelError
from harness.kernel import bzimage, debian, kconfig


def test_release_from_header_matches_package_layout(debian_kernel):
    # The package names its config and modules dir after the release; the header must agree.
    k = debian_kernel
    assert (k.image.parent / f"config-{k.release}").is_file()
    assert k.modules is not None and k.modules.name == k.release
    # ... and the full version string names the Debian package version it came from.
    assert f"Debian {k.provenance.package_version}" in k.version
    assert re.match(r"^\d+\.\d+\.\d+", k.release)


def test_header_fields(debian_kernel):
    hdr = bzimage.read_header(debian_kernel.image.read_bytes())
    assert hdr.protocol >= 0x20F
    assert hdr.release == debian_kernel.release
    assert hdr.payload_length > 1_000_000


def test_extract_vmlinux_is_elf_with_same_version(debian_kernel):
    vmlinux = bzimage.extract_vmlinux(debian_kernel.image.read_bytes())
    assert vmlinux[:4] == b"\x7fELF"
    assert vmlinux[4] == 2  # ELFCLASS64
    # linux_banner in the decompressed kernel carries the same version string
    assert f"Linux version {debian_kernel.release}".encode() in vmlinux


def test_real_configs_have_every_required_option(debian_kernel):
    assert kconfig.missing_options(debian_kernel.config) == []
    debian_kernel.check_config()


def test_missing_option_is_named_in_one_line(debian_kernel):
    text = debian_kernel.config_text.replace("CONFIG_VETH=m", "# CONFIG_VETH is not set")
    text = text.replace("CONFIG_NET_NS=y", "# CONFIG_NET_NS is not set")
    assert kconfig.missing_options(kconfig.parse_config(text)) == ["NET_NS", "VETH"]
    broken = dataclasses.replace(debian_kernel, config_text=text)
    with pytest.raises(KernelError) as e:
        broken.check_config()
    assert "CONFIG_NET_NS" in str(e.value) and "CONFIG_VETH" in str(e.value)
    assert "\n" not in str(e.value)


def test_not_a_bzimage(tmp_path, debian_kernel):
    bogus = tmp_path / "vmlinuz"
    bogus.write_bytes(debian_kernel.config_text.encode())
    with pytest.raises(KernelError, match="not an x86 bzImage"):
        kernel.resolve(str(bogus))


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(KernelError, match="no such file"):
        kernel.resolve(str(tmp_path / "nope"))


def test_kernel_path_finds_modules_and_config_beside_it(debian_kernel):
    k = kernel.resolve(str(debian_kernel.image))
    assert k.release == debian_kernel.release
    assert k.modules == debian_kernel.modules
    assert k.config_hash == debian_kernel.config_hash
    assert k.provenance.kind == "file"
    assert k.key == debian_kernel.key  # the same build, however it was named


def test_pick_debian_series_and_exact():
    cands = [
        debian.DebianPackage("linux-image-6.1.0-9-cloud-amd64-unsigned", "6.1.27-1"),
        debian.DebianPackage("linux-image-6.1.0-56-cloud-amd64-unsigned", "6.1.192-2"),
        debian.DebianPackage("linux-image-6.12.9+deb12-cloud-amd64-unsigned", "6.12.9-1"),
        debian.DebianPackage("linux-image-6.12.115+deb12-cloud-amd64-unsigned", "6.12.115-2"),
    ]
    assert debian.pick("debian:6.1", cands).version == "6.1.192-2"
    assert debian.pick("debian:6.12", cands).version == "6.12.115-2"
    assert debian.pick("debian:6.1.27-1", cands).name.startswith("linux-image-6.1.0-9-")
    with pytest.raises(KernelError, match="offered: 6.1.27-1"):
        debian.pick("debian:5.10", cands)


def test_kernel_round_trips_for_other_processes(debian_kernel):
    back = kernel.Kernel.from_dict(debian_kernel.to_dict())
    assert back == debian_kernel and back.modules == debian_kernel.modules
