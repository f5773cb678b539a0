"""The harness core on real booted kernels: identity, modules, SSH contract, recovery."""

import socket
import time
from pathlib import Path

import paramiko
import pytest

from harness.errors import CommandTimeout, GuestDied
from harness.plugin.session import SESSION
from harness.vm.ssh import HostKeyMismatch, SSHSession

pytestmark = pytest.mark.vm


def test_uname_matches_bzimage_header(vm, nsh_kernel):
    assert vm.succeed("uname -r").strip() == nsh_kernel.release
    assert vm.succeed("cat /proc/version").startswith(f"Linux version {nsh_kernel.release}")


def test_modprobe_veth_works_in_guest(vm):
    vm.succeed("modprobe veth")
    assert vm.run("test -d /sys/module/veth").ok
    vm.succeed("ip link add nshv0 type veth peer name nshv1 && ip link del nshv0")


def test_command_result_fields(guest):
    r = guest.run("echo out; echo err >&2; exit 3")
    assert (r.rc, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert 0 < r.duration < 30
    assert guest.run("cat", input="piped").stdout == "piped"


def test_timeout_raises_names_command_and_guest_stays_usable(vm):
    start = time.monotonic()
    with pytest.raises(CommandTimeout, match="sleep 37"):
        vm.run("sleep 37", timeout=1.5)
    assert time.monotonic() - start < 10
    assert vm.succeed("echo alive").strip() == "alive"
    # the guest-side backstop kills the command shortly after
    deadline = time.monotonic() + 10
    while vm.run("pgrep -x sleep").ok and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not vm.run("pgrep -x sleep").ok


def test_put_and_get_over_sftp(vm, tmp_path):
    src = tmp_path / "blob"
    src.write_bytes(bytes(range(256)) * 400)
    vm.put(src, "/tmp/blob")
    assert (
        vm.succeed("sha256sum /tmp/blob").split()[0]
        == __import__("hashlib").sha256(src.read_bytes()).hexdigest()
    )
    vm.get("/tmp/blob", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == src.read_bytes()


def test_ssh_forward_is_loopback_only(vm):
    port = vm.qemu.ssh_port
    listeners = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, p = local.split(":")
        if int(p, 16) == port and state == "0A":  # LISTEN
            listeners.append(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
    assert listeners == ["127.0.0.1"]


def test_wrong_host_key_is_refused(vm):
    other = paramiko.Ed25519Key.from_private_key_file(str(vm.keys.client.private_path))
    with pytest.raises(HostKeyMismatch):
        SSHSession.connect(vm.qemu.ssh_port, host_key=other, client_key=other, timeout=10)


def test_password_login_is_refused(vm):
    t = paramiko.Transport(("127.0.0.1", vm.qemu.ssh_port))
    try:
        t.start_client(timeout=10)
        with pytest.raises(paramiko.SSHException):
            t.auth_password("root", "")
        assert not t.is_authenticated()
    finally:
        t.close()


def test_dead_guest_is_reported_and_replaced(request, nsh_kernel):
    """A guest that panics raises GuestDied with console evidence; the next user gets a
    fresh guest (restored from the snapshot, or booted)."""
    state = request.config.stash[SESSION]
    m = state.machine(nsh_kernel)
    starts, old_pid = len(m.starts), m.qemu.pid
    m.run("echo 1 > /proc/sys/kernel/sysrq")
    with pytest.raises(GuestDied) as e:
        m.run("echo c > /proc/sysrq-trigger; sleep 30", timeout=60)
    assert "sysrq" in str(e.value).lower()
    m2 = state.machine(nsh_kernel)
    assert len(m2.starts) == starts + 1 and m2.qemu.pid != old_pid
    assert "died" in m2.starts[-1]["why"] or "Kernel panic" in m2.starts[-1]["why"]
    assert m2.succeed("uname -r").strip() == nsh_kernel.release
    with pytest.raises(ProcessLookupError):
        __import__("os").kill(old_pid, 0)
