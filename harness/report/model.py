"""The run report's typed records, and the JSON document they make (schema version 2).

A test is keyed by its `test_id` (the pytest node id without the kernel's part, so a
parametrized `[veth]` variant stays distinct) and a kernel by its identity `kernel_key`;
the release is only a label. Everything that reads reports (diff, merge, HTML, KCIDB)
goes through Report.load, so one validator and one set of types serve them all.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import InputError
from ..host.resources import data

SCHEMA_VERSION = 3
#: Reports of these schema versions load (v2 lacks the v3 outcomes and fields, nothing else).
READABLE_VERSIONS = (2, 3)
#: passed | failed (the behaviour broke) | kernel-finding (it broke as a known, analysed
#: kernel regression) | not-judged (too few witnesses agreed to judge it) | error (the test
#: could not observe: a setup step, the guest, the harness) | skipped (decided from the
#: kernel's version or config).
OUTCOMES = ("passed", "failed", "kernel-finding", "not-judged", "error", "skipped")
#: Outcomes that are not a pass of the behaviour (a run with any of them exits non-zero,
#: listed kernel findings aside).
NOT_PASSED = ("failed", "kernel-finding", "not-judged", "error")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _known(cls, d: dict) -> dict:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


@dataclass
class RunInfo:
    harness_version: str
    start: str
    end: str | None = None
    host: str = ""
    platform: str = ""
    python: str = ""
    qemu_version: str = ""
    command_line: list[str] = field(default_factory=list)
    exit_status: int | None = None
    interrupted: bool = False
    partial: bool = False
    error: str | None = None  # a failure of the whole session (no image, no kernel, no QEMU)
    merged_from: list[str] = field(default_factory=list)

    @classmethod
    def begin(cls, argv: list[str], qemu_version: str) -> RunInfo:
        from .. import __version__

        return cls(
            harness_version=__version__,
            start=now(),
            host=socket.gethostname(),
            platform=platform.platform(),
            python=sys.version.split()[0],
            qemu_version=qemu_version,
            command_line=list(argv),
        )


@dataclass
class VmRecord:
    """One kernel's guest in this run: which kernel exactly, and how its boots went."""

    kernel_key: str
    label: str
    release: str
    identity: str
    provenance: dict
    kernel_path: str
    kernel_version: str
    config_hash: str
    modules: str | None
    image_hash: str
    accel: str
    accel_reason: str
    boots: int = 0  # cold boots
    restores: int = 0  # starts from a snapshot
    mode: str | None = None  # how the last start went: "cold" | "restored"
    ready_s: float | None = None  # launch -> first guest op answered, last start
    phases: dict[str, float] = field(default_factory=dict)
    snapshot: str | None = None
    snapshot_note: str | None = None
    starts: list[dict] = field(default_factory=list)  # every start: mode, ready_s, why
    console_log: str | None = None
    cmdline: str | None = None
    boot_error: str | None = None


@dataclass
class TestRecord:
    test_id: str
    nodeid: str
    name: str
    kernel: str | None  # the kernel's label (release, or release@key when two share one)
    kernel_key: str | None
    outcome: str  # one of OUTCOMES
    area: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    behaviours: list[str] = field(default_factory=list)
    error_kind: str | None = None  # setup-step | leak | guest-died | harness | crash
    duration_s: float = 0.0
    skip_reason: str | None = None
    message: str | None = None
    observations: dict = field(default_factory=dict)
    steps: list[dict] = field(default_factory=list)
    leaks: dict = field(default_factory=dict)
    kernel_log: list[str] = field(default_factory=list)
    splats: list[dict] = field(default_factory=list)
    console_tail: str | None = None
    reproduce: str | None = None
    finding: str | None = None  # kernel-finding: the finding's id (data/kernel-findings.toml)
    blocked_by: list[str] = field(default_factory=list)  # not-judged: the witnesses' ids


@dataclass
class Report:
    run: RunInfo
    vms: list[VmRecord] = field(default_factory=list)
    tests: list[TestRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        from .coverage import coverage

        doc = {
            "schema_version": SCHEMA_VERSION,
            "run": asdict(self.run),
            "vms": [asdict(v) for v in self.vms],
            "tests": [asdict(t) for t in self.tests],
        }
        doc["behaviours"] = coverage(doc)
        return doc

    @classmethod
    def from_dict(cls, doc: dict) -> Report:
        return cls(
            run=RunInfo(**_known(RunInfo, doc["run"])),
            vms=[VmRecord(**_known(VmRecord, v)) for v in doc["vms"]],
            tests=[TestRecord(**_known(TestRecord, t)) for t in doc["tests"]],
        )

    def write(self, path: Path) -> None:
        """Write atomically: a fresh private temp file in the target directory, renamed
        over *path* (never a predictable name another user could plant a symlink at)."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Report:
        return cls.from_dict(load_doc(path))

    def kernels(self) -> dict[str, str]:
        """{kernel_key: label}, in the order the run met them."""
        out: dict[str, str] = {}
        for v in self.vms:
            out.setdefault(v.kernel_key, v.label)
        for t in self.tests:
            if t.kernel_key:
                out.setdefault(t.kernel_key, t.kernel or t.kernel_key)
        return out


def write_json(path: Path, doc: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1, default=str)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def validate(doc: dict) -> None:
    """Raise jsonschema.ValidationError if *doc* does not follow the schema."""
    import jsonschema

    jsonschema.validate(doc, json.loads(data("report.schema.json").read_text()))


def load_doc(path: str | Path) -> dict:
    """A validated report document, or an InputError naming the file and what is wrong."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"no such report: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a report file") from None
    except OSError as e:
        raise InputError(f"cannot read report {path}: {e.strerror}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not a JSON report: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path} is not an nsharness report (not a JSON object)")
    if doc.get("schema_version") not in READABLE_VERSIONS:
        raise InputError(
            f"{path}: report schema version {doc.get('schema_version')!r}, this nsharness "
            f"reads versions {', '.join(map(str, READABLE_VERSIONS))}"
        )
    try:
        validate(doc)
    except Exception as e:  # noqa: BLE001 - jsonschema.ValidationError, in one line
        where = "/".join(str(x) for x in getattr(e, "absolute_path", []))
        msg = str(getattr(e, "message", e)).splitlines()[0][:200]
        raise InputError(f"{path} is not a valid nsharness report: {where}: {msg}") from None
    return doc
