"""Program results as run_program built them, from outputs saved in our guests
(tests/data/ktap/<release>/<target>/<program>.out + .json: exit code, timeout, kernel log)."""

import json
from pathlib import Path

from harness import kselftest as ks
from harness.kselftest import ktap

DATA = Path(__file__).resolve().parents[1] / "data"
R61, R612 = "6.1.0-56-cloud-amd64", "6.12.117+deb12-cloud-amd64"


def result(rel: str) -> ks.ProgramResult:
    """A ProgramResult as run_program built it, from a saved real run."""
    base = DATA / "ktap" / rel
    meta = json.loads(base.with_name(base.name + ".json").read_text())
    output = base.with_name(base.name + ".out").read_text()
    prog = ks.Program(base.parent.name, base.name, meta["timeout"], True, None)
    return ks.ProgramResult(
        program=prog,
        output=output,
        rc=meta["rc"],
        duration_s=meta["duration_s"],
        timeout=meta["timeout"],
        timed_out=meta["timed_out"],
        guest_died=meta["guest_died"],
        kernel_log=meta["kernel_log"],
        suite=ktap.parse(output),
    )
