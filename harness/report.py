"""The run report: one JSON document per run, its schema, and the diff of two runs.

Written at session end and also when a run is interrupted (Ctrl-C) or a VM died, marked
so, with everything that finished; validated against schema/report.schema.json.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).resolve().parent / "data" / "report.schema.json"


@dataclass
class TestRecord:
    nodeid: str
    kernel: str | None
    area: str | None
    outcome: str  # passed | failed | skipped | error
    duration_s: float = 0.0
    skip_reason: str | None = None
    message: str | None = None
    observations: dict = field(default_factory=dict)
    kernel_log: list[str] = field(default_factory=list)
    splats: list[dict] = field(default_factory=list)
    console_tail: str | None = None
    reproduce: str | None = None


@dataclass
class Report:
    run: dict
    vms: list[dict] = field(default_factory=list)
    tests: list[TestRecord] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "run": self.run,
            "vms": self.vms,
            "tests": [asdict(t) for t in self.tests],
        }

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, default=str))
        tmp.replace(path)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def run_info(argv: list[str], qemu_version: str) -> dict:
    from . import __version__

    return {
        "harness_version": __version__,
        "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "end": None,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "qemu_version": qemu_version,
        "command_line": argv,
        "exit_status": None,
        "interrupted": False,
        "partial": False,
    }


def validate(doc: dict) -> None:
    """Raise jsonschema.ValidationError if *doc* does not follow the schema."""
    import jsonschema

    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))


def _key(t: dict) -> tuple[str, str]:
    return (t.get("kernel") or "-", t["nodeid"].split("[")[0])


def diff(base: dict, new: dict) -> dict:
    """What changed between two runs, per (kernel, test)."""
    b = {_key(t): t["outcome"] for t in base["tests"]}
    n = {_key(t): t["outcome"] for t in new["tests"]}
    bad = ("failed", "error")
    out = {"regressions": [], "fixes": [], "new": [], "vanished": []}
    for k in sorted(set(b) | set(n)):
        label = {"kernel": k[0], "test": k[1], "base": b.get(k), "new": n.get(k)}
        if k not in b:
            out["new"].append(label)
        elif k not in n:
            out["vanished"].append(label)
        elif b[k] not in bad and n[k] in bad:
            out["regressions"].append(label)
        elif b[k] in bad and n[k] == "passed":
            out["fixes"].append(label)
    return out
