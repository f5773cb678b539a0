"""The GitHub Actions workflow cannot run here: check its syntax and that it drives the
harness the way the README says (shell steps parse, commands exist, reports merge)."""

import shlex
import subprocess
from pathlib import Path

import yaml

from harness.cli import build_parser

WF = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nsharness.yml"


def load():
    return yaml.safe_load(WF.read_text())


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
    assert merge["needs"] == "suite" and merge["if"] == "always()"
    for job in wf["jobs"].values():
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step


def test_every_shell_step_parses_and_calls_real_commands():
    parser = build_parser()
    for job in load()["jobs"].values():
        for step in job["steps"]:
            script = step.get("run")
            if not script:
                continue
            res = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
            assert res.returncode == 0, (step, res.stderr)
            for line in script.splitlines():
                lex = shlex.shlex(
                    line.replace("${{ matrix.kernel }}", "debian:6.1"),
                    posix=True,
                    punctuation_chars=True,
                )
                lex.whitespace_split = True
                words = list(lex)
                for op in ("||", "&&", ";", "|"):
                    if op in words:
                        words = words[: words.index(op)]
                if words and words[0].endswith("nsharness"):
                    parser.parse_args(words[1:])  # SystemExit if a flag or command is wrong
