"""Bad input, every verb, every file argument: exit 2 (usage) or 4 (input) with ONE line on
stderr that names the argument — never a traceback, never after a VM started. Inputs are
real: the Debian bzImage truncated or with its payload corrupted, random bytes, an old
(schema 1) report, a report with a non-string kernel log line, hostile file names."""

import copy
import json
import os
from pathlib import Path

import pytest

from harness.cli.commands import main
from harness.report import SCHEMA_VERSION

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture(scope="module")
def files(tmp_path_factory, request) -> dict[str, str]:
    d = tmp_path_factory.mktemp("bad")
    kernel = request.getfixturevalue("any_debian_kernel")
    image = kernel.image.read_bytes()
    corrupt = bytearray(image)
    for i in range(len(corrupt) // 2, len(corrupt) // 2 + 4096):
        corrupt[i] ^= 0xFF
    report = json.loads((DATA / "report-real.json").read_text())
    nonstring = copy.deepcopy(report)
    nonstring["tests"][0]["kernel_log"] = [{"not": "a line"}]
    old = copy.deepcopy(report)
    old["schema_version"] = 1
    paths = {
        "missing": d / "missing",
        "dir": d / "adir",
        "empty": d / "empty",
        "binary": d / "binary",
        "truncated": d / "truncated-bzImage",
        "corrupt": d / "corrupt-bzImage",
        "hostile": d / "[bold]x[_] $(id) ;rm",
        "notjson": d / "report.txt",
        "halfjson": d / "half.json",
        "wrongschema": d / "wrong.json",
        "oldschema": d / "old.json",
        "nonstring": d / "nonstring.json",
        "report": d / "good.json",
    }
    paths["dir"].mkdir()
    paths["empty"].write_bytes(b"")
    paths["binary"].write_bytes(os.urandom(70000))
    paths["truncated"].write_bytes(image[: len(image) // 2])
    paths["corrupt"].write_bytes(bytes(corrupt))
    paths["hostile"].write_bytes(b"")
    paths["notjson"].write_text("not json at all\n")
    paths["halfjson"].write_text(json.dumps(report)[:5000])
    paths["wrongschema"].write_text(json.dumps({"tests": "nope"}))
    paths["oldschema"].write_text(json.dumps(old))
    paths["nonstring"].write_text(json.dumps(nonstring))
    paths["report"].write_text(json.dumps(report))
    return {k: str(v) for k, v in paths.items()}


@pytest.fixture(scope="module")
def any_debian_kernel():
    from harness import kernel
    from harness.errors import KernelError

    try:
        return kernel.resolve("debian:6.12")
    except KernelError as e:
        pytest.skip(f"cannot fetch debian:6.12: {e}")


def ref(name: str) -> str:
    """A placeholder for the path of fixture file *name* in an argv."""
    return "{" + name + "}"


KERNEL_FILES = ["missing", "dir", "empty", "binary", "truncated", "corrupt", "hostile"]
REPORT_FILES = ["missing", "dir", "empty", "binary", "notjson", "halfjson", "wrongschema",
                "oldschema", "nonstring"]  # fmt: skip

CASES = (
    [(f"run --kernel {k}", ["run", "--kernel", ref(k)], 4, "--kernel") for k in KERNEL_FILES]
    + [(f"kernel fetch {k}", ["kernel", "fetch", ref(k)], 4, ref(k)) for k in KERNEL_FILES]
    + [(f"shell --kernel {k}", ["shell", "--kernel", ref(k)], 4, "--kernel") for k in KERNEL_FILES]
    + [
        ("run --kernel debian:", ["run", "--kernel", "debian:"], 2, "--kernel"),
        ("run --kernel debian:9.99", ["run", "--kernel", "debian:9.99"], 4, "debian:9.99"),
        ("run --modules missing", ["run", "--modules", "{missing}"], 4, "--modules"),
        ("run --modules file", ["run", "--modules", "{empty}"], 4, "--modules"),
        ("run --kernel-src missing", ["run", "--kernel-src", "{missing}"], 4, "--kernel-src"),
        ("run --kernel-src not a tree", ["run", "--kernel-src", "{dir}"], 4, "--kernel-src"),
        ("run --out file", ["run", "--out", "{empty}"], 4, "--out"),
        ("run --out unwritable", ["run", "--out", "/proc/nsh-out"], 4, "--out"),
        ("run --report .html", ["run", "--report", "{dir}/r.html"], 2, "--report"),
        ("run --report dir", ["run", "--report", "{dir}"], 4, "--report"),
        ("run --keep-console file", ["run", "--keep-console", "{empty}"], 4, "--keep-console"),
        ("run --vm-memory 1", ["run", "--vm-memory", "1"], 2, "--vm-memory"),
        ("run --vm-smp 0", ["run", "--vm-smp", "0"], 2, "--vm-smp"),
        ("run --boot-timeout abc", ["run", "--boot-timeout", "abc"], 2, "--boot-timeout"),
        ("run --accel bogus", ["run", "--accel", "bogus"], 2, "--accel"),
        ("shell two kernels", ["shell", "--kernel", "a", "--kernel", "b"], 2, "--kernel"),
        ("kernel build missing", ["kernel", "build", "{missing}"], 4, "{missing}"),
        ("kernel build not a tree", ["kernel", "build", "{dir}"], 4, "{dir}"),
        (
            "bisect not a tree",
            ["bisect", "--kernel-src", "{dir}", "--good", "a", "--bad", "b", "-k", "x"],
            4,
            "--kernel-src",
        ),  # fmt: skip
        (
            "diff one-sided kernel",
            ["report", "diff", "{report}", "{report}", "--base-kernel", "x"],
            2,
            "--new-kernel",
        ),  # fmt: skip
        ("merge -o dir", ["report", "merge", "{report}", "-o", "{dir}"], 4, "-o"),
        ("html -o dir", ["report", "html", "{report}", "-o", "{dir}"], 4, "-o"),
        ("unknown verb", ["frobnicate"], 2, "frobnicate"),
    ]
    + [
        (f"report diff {r}", ["report", "diff", "{report}", ref(r)], 4, ref(r))
        for r in REPORT_FILES
    ]  # fmt: skip
    + [
        (f"report html {r}", ["report", "html", ref(r), "-o", "{dir}/x.html"], 4, ref(r))
        for r in REPORT_FILES
    ]  # fmt: skip
    + [
        (f"report merge {r}", ["report", "merge", ref(r), "-o", "{dir}/m.json"], 4, ref(r))
        for r in REPORT_FILES
    ]  # fmt: skip
)


@pytest.mark.parametrize(
    ("argv", "code", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_one_line_and_a_clear_exit(argv, code, names, files, capsys):
    argv = [a.format(**files) for a in argv]
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's usage errors
        rc = e.code
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err
    assert rc == code, f"exit {rc}, expected {code}: {err}"
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert names.format(**files) in lines[0], f"the line does not name {names}: {lines[0]}"


def test_merge_into_a_missing_directory_creates_it(files, tmp_path):
    out = tmp_path / "new" / "dir" / "merged.json"
    assert main(["report", "merge", files["report"], "-o", str(out)]) == 0
    assert json.loads(out.read_text())["schema_version"] == SCHEMA_VERSION
