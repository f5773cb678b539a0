"""The GitHub Actions workflow cannot run here: check its syntax and that it drives the
harness the way the README says (shell steps parse, commands exist, reports merge), its
job layout (gates, time limits, permissions), and that its cache can actually restore."""

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import kselftest
from harness.cli import cikey
from harness.cli.commands import build_parser

WF = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nsharness.yml"
#: python -m MODULE entry points the workflow may call, with their argument parsers
MODULES = {
    "harness.cikey": cikey.build_parser,
}


def load():
    return yaml.safe_load(WF.read_text())


def steps(job: str) -> list[dict]:
    return load()["jobs"][job]["steps"]


def index(job: str, pred) -> int:
    return next(i for i, s in enumerate(steps(job)) if pred(s))


def test_workflow_structure():
    wf = load()
    assert set(wf[True]) >= {"push", "pull_request"}  # YAML 1.1 reads the key `on` as True
    suite, merge = wf["jobs"]["suite"], wf["jobs"]["merge"]
    assert suite["strategy"]["matrix"]["kernel"] == ["debian:6.1", "debian:6.12"]
    assert suite["container"]["image"].startswith("debian:bookworm")
    uses = [s.get("uses", "") for s in suite["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses)
    assert any(u.startswith("actions/cache@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    assert merge["needs"] == "suite" and merge["if"] == "${{ !cancelled() }}"
    for job in wf["jobs"].values():
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step


def test_lint_and_unit_gate_the_vm_matrix():
    jobs = load()["jobs"]
    assert set(jobs["suite"]["needs"]) == {"lint", "unit"}
    lint = " ".join(s.get("run", "") for s in jobs["lint"]["steps"])
    assert "ruff check" in lint and "ruff format --check" in lint
    unit = " ".join(s.get("run", "") for s in jobs["unit"]["steps"])
    assert '-m "not vm"' in unit


def test_every_job_has_a_time_limit_and_least_privilege():
    wf = load()
    assert wf["permissions"] == {"contents": "read"}
    for name, job in wf["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), name
        assert job["timeout-minutes"] <= 90, name  # CI's whole budget
        assert "permissions" not in job or job["permissions"] == {"contents": "read"}, name


def test_zstd_is_installed_before_the_cache_restores():
    """actions/cache picks zstd or gzip by what it finds; restore and post-job save must
    find the same, or the saved entry never matches a later restore."""
    cache = index("suite", lambda s: s.get("uses", "").startswith("actions/cache@"))
    zstd = index("suite", lambda s: "zstd" in s.get("run", "") and "apt-get install" in s["run"])
    assert zstd < cache
    # and nothing before the restore step is itself a cache step
    assert not any("cache" in s.get("uses", "") for s in steps("suite")[:cache])


def test_cache_key_comes_from_the_key_script_before_the_cache_step():
    suite = steps("suite")
    cache_i = index("suite", lambda s: s.get("uses", "").startswith("actions/cache@"))
    key_i = index("suite", lambda s: s.get("id") == "key")
    assert key_i < cache_i
    assert "harness.cikey --kernel" in suite[key_i]["run"]
    assert "${{ matrix.kernel }}" in suite[key_i]["run"]
    assert "$GITHUB_OUTPUT" in suite[key_i]["run"]
    assert suite[cache_i]["with"]["key"] == "${{ steps.key.outputs.key }}"
    assert suite[cache_i]["with"]["restore-keys"] == "${{ steps.key.outputs.restore }}"
    assert suite[cache_i]["with"]["path"] == "~/.cache/nsharness"


def test_matrix_runs_suite_and_kselftests_and_exports_kcidb():
    runs = [s.get("run", "") for s in steps("suite")]
    suite = next(r for r in runs if "nsharness run" in r and "--kselftest" not in r)
    assert "--out out" in suite
    ks = shlex.split(next(r for r in runs if "--kselftest " in r))
    assert ks[0].endswith("nsharness") and ks[1] == "run" and "-k" not in ks  # selftests only
    args = build_parser().parse_args(ks[1:])
    targets = {t.target: t.programs for t in kselftest.parse_specs(args.kselftest)}
    assert targets["nsfs"] == () and targets["pidfd"] == ()
    assert len(targets["net"]) == 2
    assert args.kselftest_timeout_scale == 8 and args.out == "out/kselftest"
    merge = steps("merge")
    merged = " ".join(s.get("run", "") for s in merge)
    assert "reports/*/kselftest/report.json" in merged
    assert "nsharness report kcidb merged.json -o kcidb.json" in merged
    uploads = [s["with"]["path"] for s in merge if s.get("uses", "").startswith("actions/upload")]
    assert "kcidb.json" in uploads


def _commands(script: str):
    for line in script.splitlines():
        lex = shlex.shlex(
            line.replace("${{ matrix.kernel }}", "debian:6.1"),
            posix=True,
            punctuation_chars=True,
        )
        lex.whitespace_split = True
        words = list(lex)
        for op in ("||", "&&", ";", "|", ">>", ">"):
            if op in words:
                words = words[: words.index(op)]
        if words:
            yield words


def test_every_shell_step_parses_and_calls_real_commands():
    parser = build_parser()
    for job in load()["jobs"].values():
        for step in job["steps"]:
            script = step.get("run")
            if not script:
                continue
            res = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
            assert res.returncode == 0, (step, res.stderr)
            for words in _commands(script):
                if words[0].endswith("nsharness"):
                    parser.parse_args(words[1:])  # SystemExit if a flag or command is wrong
                if words[0].endswith("python") and words[1:2] == ["-m"] and words[2] in MODULES:
                    MODULES[words[2]]().parse_args(words[3:])


# ------------------------------------------------------------------------ the cache key

PKGS = [  # what apt offered for the two kernels of tests/data/report-real.json
    ("linux-image-6.1.0-56-cloud-amd64-unsigned", "6.1.192-2"),
    ("linux-image-6.1.0-55-cloud-amd64-unsigned", "6.1.190-1"),
    ("linux-image-6.12.117+deb12-cloud-amd64-unsigned", "6.12.117-1~deb12u1"),
]


@pytest.fixture
def offered(monkeypatch):
    from harness.kernel import debian

    pkgs = [debian.DebianPackage(n, v) for n, v in PKGS]
    monkeypatch.setattr(debian, "candidates", lambda: pkgs)
    return pkgs


def test_key_names_the_exact_kernel_package_version(offered):
    k61, k612 = cikey.cache_key("debian:6.1"), cikey.cache_key("debian:6.12")
    assert "6.1.192-2" in k61.key and "linux-image-6.1.0-56-cloud-amd64" in k61.key
    assert "6.12.117-1~deb12u1" in k612.key
    assert k61.key != k612.key and k61.key.startswith(k61.restore)
    # a pinned older upload is another cache entry
    assert "6.1.190-1" in cikey.cache_key("debian:6.1.190-1").key


def test_key_changes_with_every_image_input(offered, monkeypatch, tmp_path):
    import shutil

    from harness.image import recipe as image

    base = cikey.cache_key("debian:6.1")
    assert image.Recipe.load().hash in base.key
    real = image.vm_images()
    recipes = tmp_path / "vm-images"
    shutil.copytree(real, recipes)
    monkeypatch.setattr(image, "vm_images", lambda: recipes)
    assert cikey.cache_key("debian:6.1").key == base.key
    toml = recipes / "bookworm" / "recipe.toml"
    toml.write_text(toml.read_text().replace('"ethtool",', '"ethtool",\n  "iputils-ping",'))
    changed = cikey.cache_key("debian:6.1")
    assert changed.key != base.key and not changed.key.startswith(base.restore)
    monkeypatch.setattr(image, "vm_images", lambda: real)
    monkeypatch.setattr(image, "pyroute2_version", lambda: "0.0.1")  # copied into the image
    assert cikey.cache_key("debian:6.1").key != base.key


def test_key_changes_with_boot_and_kselftest_inputs(offered, monkeypatch):
    base = cikey.cache_key("debian:6.1")
    assert {"vm-images/initrd/init", "harness/boot/files.py"} <= set(cikey.EXTRA_INPUTS)
    monkeypatch.setattr(cikey, "EXTRA_INPUTS", cikey.EXTRA_INPUTS[:-1])
    other = cikey.cache_key("debian:6.1")
    assert other.key != base.key and other.restore == base.restore


def test_key_script_errors_are_one_line(capsys):
    assert cikey.main(["--kernel", "/no/such/bzImage"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
