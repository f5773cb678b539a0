"""An ordinary user, from an empty cache, builds the guest image and runs scenarios to green.

Run by CI as root: root creates the user and its workspace (userws.py), then everything
happens as that user: bootstrap.sh (its own venv), `nsharness image build`, and a short
`nsharness run` on Debian 6.12. The user's image is compared path by path (type, owner,
group, mode, content) with a build of the same recipe in mmdebstrap's root mode, the way
root built the image before ordinary users could.
"""

import json
import os
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from filelock import FileLock

from harness import image
from harness.image import manifest as ext4manifest

from .userws import Workspace, timed

pytestmark = [pytest.mark.vm, pytest.mark.slow]

USER = "nsh-ci-user"
SCENARIOS = (
    "test_setns_rejects_a_mismatched_nstype or test_netns_switch_is_per_thread or "
    "test_same_name_in_two_netns or test_bind_mount_keeps_netns_alive"
)
#: Files whose content cannot be the same in two builds, each with the reason.
TIME_DEPENDENT = {
    "/etc/shadow": "each account's last password change is the build's day (days since 1970)",
    "/etc/shadow-": "shadow's backup copy, with the same day field",
}


@pytest.fixture
def workspace():
    if os.geteuid() != 0:
        pytest.skip("creating an ordinary user needs root (CI runs this as root)")
    with FileLock(f"/tmp/{USER}.lock"):
        ws = Workspace.create(USER, {"pyroute2": version("pyroute2")})
        try:
            yield ws
        finally:
            left = {pid: name for pid, name in ws.processes().items()}
            ws.remove()
            assert not any(n.startswith("qemu") for n in left.values()), f"left running: {left}"


def test_ordinary_user_builds_image_and_runs_scenarios(workspace, tmp_path):
    ws = workspace
    t_boot, res = timed(ws, ["./bootstrap.sh"], 900)
    assert res.returncode == 0, res.stdout[-3000:]

    assert not (ws.dir / "cache" / "nsharness" / "images").exists()  # empty cache
    t_user, res = timed(ws, [str(ws.python), "-m", "harness.cli", "image", "build"], 1200)
    assert res.returncode == 0, res.stdout[-3000:]
    user_img = Path(res.stdout.strip().splitlines()[-1].split("\t")[1])
    built = json.loads((user_img.parent / "manifest.json").read_text())
    assert built["built_by"] == "user" and built["mmdebstrap_mode"] == "unshare"
    assert (ws.dir / "cache" / "nsharness").stat().st_mode & 0o777 == 0o700

    recipe = image.Recipe.load()
    assert built["hash"] == recipe.hash  # same recipe, same pyroute2: the same image
    t = time.monotonic()
    image.build(recipe, tmp_path, mode="root")
    t_root = time.monotonic() - t
    root_m = ext4manifest.manifest(tmp_path / "root.ext4")
    user_m = ext4manifest.manifest(user_img)
    (tmp_path / "root.ext4").unlink()
    assert len(user_m) > 5000
    assert ext4manifest.compare(root_m, user_m, TIME_DEPENDENT) == []
    # Owned by Debian's system ids, never by the builder or its subordinate ids.
    assert max(max(e.uid, e.gid) for e in user_m.values()) < 1000
    assert user_m["/etc/shadow"].line().startswith("/etc/shadow f 0:42 0640")

    out = ws.dir / "out"
    t_run, res = timed(
        ws,
        [
            str(ws.python),
            "-m",
            "harness.cli",
            "run",
            "--kernel",
            "debian:6.12",
            "-k",
            SCENARIOS,
            "--out",
            str(out),
        ],
        1800,
    )
    print(
        f"\nunprivileged: bootstrap {t_boot:.0f} s, user image build {t_user:.0f} s "
        f"(root mode {t_root:.0f} s), user run {t_run:.0f} s"
    )
    assert res.returncode == 0, res.stdout[-3000:]
    doc = json.loads((out / "report.json").read_text())
    outcomes = [t["outcome"] for t in doc["tests"]]
    assert outcomes == ["passed"] * 4, outcomes
    (vm,) = doc["vms"]
    assert vm["release"].startswith("6.12") and vm["accel_reason"]
    assert not [n for n in ws.processes().values() if n.startswith("qemu")]
