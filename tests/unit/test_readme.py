"""The README's commands cannot drift from the CLI again: every `nsharness ...` line in its
shell blocks parses with the real argument parser (every option exists, every value is
accepted), and every option a `pytest ...` line uses is one the plugin defines. The cheap
ones are also run for real by tests/vm/test_readme_run.py."""

import re
import shlex
from pathlib import Path

import pytest

from harness.cli.commands import build_parser
from harness.plugin.options import OPTIONS

README = Path(__file__).resolve().parents[2] / "README.md"
PLACEHOLDERS = {"GOODKEY": "0123abcd", "PATCHEDKEY": "4567ef01"}


def readme_commands() -> list[str]:
    out = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        for line in block.splitlines():
            cmd = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
            if cmd:
                out.append(cmd)
    return out


def nsharness_argv(cmd: str) -> list[str] | None:
    words = shlex.split(cmd)
    if not words or not words[0].endswith("nsharness"):
        return None
    return [PLACEHOLDERS.get(w, w) for w in words[1:]]


COMMANDS = [c for c in readme_commands() if nsharness_argv(c) is not None]


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 20


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_readme_command_parses(cmd):
    parser = build_parser()
    try:
        parser.parse_args(nsharness_argv(cmd))
    except SystemExit as e:
        pytest.fail(f"README command does not parse (exit {e.code}): {cmd}")


def test_pytest_lines_use_only_plugin_options():
    flags = {o.pytest_flag for o in OPTIONS} | {"-m", "-n", "-k", "-v", "-q", "--dist"}
    for cmd in readme_commands() + re.findall(r"`(pytest [^`]+)`", README.read_text()):
        words = shlex.split(cmd)
        if words and words[0] == "pytest":
            used = {w for w in words if w.startswith("-")}
            assert used <= flags, f"{cmd}: unknown options {used - flags}"
