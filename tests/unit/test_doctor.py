"""The doctor's checks for ordinary users, on values read from real hosts."""

import os
import stat

from harness.cli import doctor
from harness.host.kvmaccess import DevNode, explain

# /etc/subuid as Debian's useradd writes it; the second file as an admin wrote it by uid.
SUBUID = "nshdev:100000:65536\n"
BY_UID = "1001:100000:65536\n"


def test_subids_present_missing_by_uid_and_too_small():
    ok = doctor.subid_findings("nshdev", SUBUID, SUBUID)
    assert [f.ok for f in ok] == [True, True]
    assert ok[0].detail == "/etc/subuid: nshdev has 100000..165535"

    none = doctor.subid_findings("alice", SUBUID, None)
    assert [f.ok for f in none] == [False, False]
    assert none[0].detail == "no range for alice in /etc/subuid"
    assert none[1].detail == "/etc/subgid does not exist"
    assert none[0].fix == (
        "sudo usermod --add-subuids 165536-231071 --add-subgids 165536-231071 alice"
    )

    by_uid = doctor.subid_findings("nshdev", BY_UID, SUBUID)
    assert not by_uid[0].ok and "by uid number" in by_uid[0].detail

    small = doctor.subid_findings("nshdev", "nshdev:100000:1000\n", SUBUID)
    assert not small[0].ok and "only 1000 ids" in small[0].detail


def test_userns_sysctls_name_the_switch_and_the_command():
    # This machine: no Debian/Ubuntu switches, a generous limit.
    here = doctor.userns_sysctl_findings(
        {
            "kernel.unprivileged_userns_clone": None,
            "user.max_user_namespaces": "96364\n",
            "kernel.apparmor_restrict_unprivileged_userns": None,
        }
    )
    assert [(f.ok, f.detail) for f in here] == [(True, "allowed (user.max_user_namespaces=96364)")]
    debian = doctor.userns_sysctl_findings({"kernel.unprivileged_userns_clone": "0\n"})
    assert not debian[0].ok
    assert debian[0].detail.endswith("kernel.unprivileged_userns_clone=0")
    assert debian[0].fix.startswith("sudo sysctl -w kernel.unprivileged_userns_clone=1 && ")
    ubuntu = doctor.userns_sysctl_findings(
        {"kernel.apparmor_restrict_unprivileged_userns": "1", "user.max_user_namespaces": "0"}
    )
    assert sorted(f.fix.split()[3] for f in ubuntu) == [
        "kernel.apparmor_restrict_unprivileged_userns=0",
        "user.max_user_namespaces=15000",
    ]


def test_idmap_tool_needs_setuid_root_or_caps():
    missing = doctor.idmap_tool_finding("newuidmap", None, 0, 0, False)
    assert (missing.ok, missing.fix) == (False, "sudo apt-get install -y uidmap")
    setuid = stat.S_IFREG | stat.S_ISUID | 0o755  # Debian's -rwsr-xr-x root root
    assert doctor.idmap_tool_finding("newuidmap", "/usr/bin/newuidmap", setuid, 0, False).ok
    plain = doctor.idmap_tool_finding("newuidmap", "/usr/bin/newuidmap", 0o100755, 0, False)
    assert not plain.ok and "-rwxr-xr-x" in plain.detail
    # Fedora-style: no setuid bit, file capabilities instead.
    assert doctor.idmap_tool_finding("newuidmap", "/usr/bin/newuidmap", 0o100755, 0, True).ok


def test_idmap_tool_on_this_host():
    if os.path.exists("/usr/bin/newuidmap"):
        assert doctor._idmap_tool("newuidmap").ok


# /dev/kvm as this machine has it (no udev) and as Debian's udev rule makes it.
BARE = DevNode(stat.S_IFCHR | 0o600, 0, 0, "root", "root")
UDEV = DevNode(stat.S_IFCHR | 0o660, 0, 994, "root", "kvm")


def test_kvm_reasons():
    assert explain(UDEV, 1001, "nshdev", {1001, 994}, {"kvm"}) is None
    assert explain(BARE, 0, "root", {0}, set()) is None
    d = explain(UDEV, 1001, "nshdev", {1001}, set())
    assert d.reason == "not in the kvm group (/dev/kvm is crw-rw---- root:kvm)"
    assert d.fix.startswith("sudo usermod -aG kvm nshdev")
    stale = explain(UDEV, 1001, "nshdev", {1001}, {"kvm"})
    assert "login session started before" in stale.reason and stale.fix.startswith("newgrp kvm")
    bare = explain(BARE, 1001, "nshdev", {1001}, set())
    assert bare.reason.startswith("/dev/kvm is crw------- root:root: only root may open it")
    assert "chmod 0660 /dev/kvm" in bare.fix
    gone = explain(None, 1001, "nshdev", {1001}, set())
    assert gone.reason.startswith("/dev/kvm does not exist")


def test_doctor_runs_here_without_error():
    findings = doctor.check()
    assert any(f.what == "debugfs" for f in findings)
    if os.geteuid() != 0:
        assert any(f.what == "user namespace probe" for f in findings)
