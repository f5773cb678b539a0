"""Reports end to end: a real kernel WARNING fails its test with the splat attached, and
`report diff` between a green run and that run names exactly that test."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.report import Report, validate
from harness.report.html import render
from harness.report.merge import merge

from .childrun import child_pytest

pytestmark = pytest.mark.vm
HERE = Path(__file__).resolve().parent

CHILD = """
import os

def test_quiet(agent):
    assert agent.call("sh", cmd="true")["rc"] == 0

def test_warns(agent, vm):
    mod = os.environ.get("NSH_WARN_KO")
    if mod:
        vm.put(mod, "/tmp/nsh_warn.ko")
        vm.run("insmod /tmp/nsh_warn.ko")
"""


def build_warn_module(kernel, dest: Path) -> Path:
    """Build tests/vm/warnmod for *kernel* against Debian's linux-headers package."""
    if kernel.provenance.kind != "debian":
        pytest.skip("the WARN module is built against Debian linux-headers packages")
    headers = Path(f"/usr/src/linux-headers-{kernel.release}")
    if not headers.is_dir():
        if os.geteuid() != 0:
            pytest.skip(f"needs linux-headers-{kernel.release} installed (or root to install it)")
        res = subprocess.run(
            [
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                f"linux-headers-{kernel.release}",
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if res.returncode != 0:
            pytest.skip(f"cannot install linux-headers-{kernel.release}: {res.stderr[-200:]}")
    src = dest / "warnmod"
    shutil.copytree(HERE / "warnmod", src)
    res = subprocess.run(
        ["make", "-s", "-C", str(headers), f"M={src}", "modules"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return src / "nsh_warn.ko"


def child_run(tmp_path: Path, kernel, accel: str, name: str, env: dict) -> dict:
    d = tmp_path / name
    spec = f"debian:{kernel.provenance.package_version}"
    cmd = child_pytest(d, CHILD, spec, accel, "--junitxml", str(d / "junit.xml"))
    res = subprocess.run(
        cmd, cwd=d, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )
    doc = json.loads((d / "report.json").read_text())
    doc["_stdout"] = res.stdout
    doc["_dir"] = str(d)
    return doc


def by_name(doc: dict) -> dict:
    return {t["name"]: t for t in doc["tests"]}


def test_kernel_warning_fails_test_and_diff_names_it(tmp_path, nsh_kernel, request):
    ko = build_warn_module(nsh_kernel, tmp_path)
    accel = request.config.getoption("accel")
    green = child_run(tmp_path, nsh_kernel, accel, "green", {})
    red = child_run(tmp_path, nsh_kernel, accel, "red", {"NSH_WARN_KO": str(ko)})
    for doc in (green, red):
        validate({k: v for k, v in doc.items() if not k.startswith("_")})
    assert {t["outcome"] for t in green["tests"]} == {"passed"}, green["_stdout"]
    tests = by_name(red)
    assert tests["test_quiet"]["outcome"] == "passed"
    warned = tests["test_warns"]
    assert warned["outcome"] == "failed", red["_stdout"]
    splat = warned["splats"][0]
    assert splat["kind"] == "warning"
    assert any("deliberate warning from nsh_warn" in line for line in splat["lines"])
    assert "nsh_warn_init" in splat["frames"]
    assert any("WARNING" in line for line in warned["kernel_log"])
    assert warned["reproduce"].startswith(
        f"nsharness run --kernel debian:{nsh_kernel.provenance.package_version}"
    )
    assert "-k 'test_warns'" in warned["reproduce"]
    junit = Path(red["_dir"], "junit.xml").read_text()
    assert f'name="kernel" value="{nsh_kernel.release}"' in junit

    cli = [sys.executable, "-m", "harness.cli", "report", "diff", "--json"]
    res = subprocess.run(
        [*cli, f"{green['_dir']}/report.json", f"{red['_dir']}/report.json"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 1
    d = json.loads(res.stdout)
    assert [r["test"].split("::")[-1] for r in d["regressions"]] == ["test_warns"]
    assert d["fixes"] == d["new"] == d["vanished"] == d["changed"] == []
    back = subprocess.run(
        [*cli, f"{red['_dir']}/report.json", f"{green['_dir']}/report.json"],
        capture_output=True,
        text=True,
    )
    assert back.returncode == 0 and len(json.loads(back.stdout)["fixes"]) == 1

    written = Path(red["_dir"], "report.html").read_text()  # the plugin's own page
    assert "test_warns" in written and "class=failed" in written
    red_report = Report.from_dict({k: v for k, v in red.items() if not k.startswith("_")})
    page = render(red_report)
    assert "deliberate warning from nsh_warn" in page and "class=failed" in page
    with pytest.raises(InputError, match="in both"):
        merge([red_report, red_report])
