"""User namespaces for the unprivileged image build: parsing, mapping, and real namespaces."""

import os
import subprocess
from pathlib import Path

import pytest

from harness.host.hostpath import which
from harness.image import userns

# As written by Debian's useradd (shadow 4.13) for two users, then by hand by uid number.
SUBUID = "nshdev:100000:65536\nnsh-ci-user:165536:65536\n1002:231072:65536\n"


def test_find_subid_takes_the_users_line_by_name():
    assert userns.find_subid(SUBUID, "nsh-ci-user") == userns.SubIdRange(165536, 65536)
    assert userns.find_subid(SUBUID, "nobody") is None
    assert userns.find_subid("", "nshdev") is None
    assert userns.find_subid("garbage\nnshdev:x:1\n", "nshdev") is None


def test_free_range_overlaps_no_existing_entry():
    r = userns.free_range(SUBUID, "nshdev:100000:65536\n")
    assert (r.start, r.count) == (296608, 65536)
    assert userns.free_range("", "") == userns.SubIdRange(100000, 65536)
    fix = userns.subid_fix("alice", SUBUID, SUBUID)
    assert fix == "sudo usermod --add-subuids 296608-362143 --add-subgids 296608-362143 alice"


def test_build_map_is_mmdebstraps_plus_the_user_above_it():
    m = userns.build_map(
        1001, 1001, userns.SubIdRange(100000, 65536), userns.SubIdRange(100000, 65536)
    )
    assert m.uids == ((0, 100000, 65536), (65536, 1001, 1))
    assert m.gids == ((0, 100000, 65536), (65536, 1001, 1))
    assert m.owner == (65536, 65536)
    assert userns.IdMap.from_json(m.to_json()) == m
    assert not m.self_only and userns.self_as_root(1001, 1001).self_only
    with pytest.raises(userns.UsernsError, match="inside its own"):
        userns.build_map(100005, 1001, userns.SubIdRange(100000, 65536), userns.SubIdRange(0, 1))


def test_command_is_unchanged_without_a_map():
    assert userns.command(["true"], None) == ["true"]
    cmd = userns.command(["true"], userns.self_as_root(1, 1))
    assert cmd[1:4] == ["-m", "harness.image.userns", "--map"] and cmd[-2:] == ["--", "true"]


def _build_map_here() -> userns.IdMap:
    """The build namespace's mapping for whoever runs the tests (root may map anything)."""
    if os.geteuid() == 0:
        r = userns.SubIdRange(300000, 65536)
        return userns.build_map(0, 0, r, r)
    try:
        return userns.subid_map()
    except userns.UsernsError as e:
        pytest.skip(str(e))


def test_real_namespace_shows_subordinate_owners_as_themselves(tmp_path):
    m = _build_map_here()
    sub = m.uids[0][1]
    f = tmp_path / "f"
    f.write_text("x")
    script = f"id -u; chown 42:42 {f}; stat -c %u {tmp_path}"
    res = subprocess.run(userns.command(["sh", "-c", script], m), capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    inside_uid, dir_owner = res.stdout.split()
    assert inside_uid == "0"
    assert dir_owner == str(m.owner[0])  # the caller's own files, seen from inside
    assert f.stat().st_uid == sub + 42  # from outside: the subordinate id


def test_self_as_root_maps_only_the_caller(tmp_path):
    m = userns.self_as_root(os.getuid(), os.getgid())
    res = subprocess.run(
        userns.command(["stat", "-c", "%u:%g", str(tmp_path)], m), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "0:0"


def test_failure_to_map_is_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write any mapping")
    bogus = userns.IdMap(uids=((0, 1, 65536),), gids=((0, 1, 65536),), owner=(0, 0))
    res = subprocess.run(userns.command(["true"], bogus), capture_output=True, text=True)
    assert res.returncode == 125
    assert "Traceback" not in res.stderr and res.stderr.strip().startswith("nsharness")


def test_hostpath_finds_sbin_tools_even_without_sbin_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert which("mkfs.ext4") in ("/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4")
    assert Path(which("debugfs")).name == "debugfs"
