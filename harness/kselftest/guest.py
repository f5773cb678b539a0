"""Running built selftests in a guest as kselftest's runner does: installed under
/opt/kselftest, each program in its directory, line-buffered, under `timeout` with its
target's limit, output read as it comes (so a program killed by a signal, a timeout or a
guest that dies still leaves its output), and the kernel log lines printed meanwhile
captured between a marker written to /dev/kmsg and `dmesg`.
"""

from __future__ import annotations

import os
import shlex
import tarfile
import tempfile
import time
from pathlib import Path

import paramiko

from ..errors import HarnessError
from ..vm.guest import RunningGuest
from . import ktap
from .build import InstalledTree, Program
from .result import TIMEOUT_RC, ProgramResult

GUEST_ROOT = "/opt/kselftest"


def install(guest: RunningGuest, tree: InstalledTree, dest: str = GUEST_ROOT) -> None:
    """Copy the built targets into the guest under *dest* (one tarball over SFTP)."""
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "kselftest.tar.gz"
        with tarfile.open(tarball, "w:gz", compresslevel=1) as tar:
            for bt in tree.targets:
                for child in sorted(bt.root.iterdir()):
                    tar.add(child, arcname=child.name)
        remote = f"/tmp/nsh-kselftest-{os.getpid()}.tar.gz"
        guest.put(tarball, remote)
    guest.run(
        f"mkdir -p {shlex.quote(dest)} && tar -xzf {remote} -C {shlex.quote(dest)} && rm {remote}",
        timeout=120,
        check=True,
    )


def run_program(
    guest: RunningGuest,
    program: Program,
    timeout: int | None = None,
    root: str = GUEST_ROOT,
    kernel_log: bool = True,
) -> ProgramResult:
    """Run one installed program in the guest as kselftest's runner does (in its directory,
    line-buffered, under `timeout`), keeping its output even if it dies or the guest does.
    With *kernel_log*, the kernel log lines printed meanwhile are read with `dmesg` (the
    pytest item reads them through the guest agent instead, as fixtures do)."""
    limit = program.timeout if timeout is None else timeout
    if not program.built:
        return ProgramResult(program, "", None, 0.0, limit)
    marker = f"nsharness: kselftest {program.id} start {time.time_ns()}"
    tdir = shlex.quote(f"{root}/{program.target}")
    prog = shlex.quote(f"./{program.name}")
    guard = f"timeout -k 5 {limit} " if limit > 0 else ""
    script = (
        f"echo {shlex.quote(marker)} > /dev/kmsg; cd {tdir} || exit 97; "
        f"buf=; command -v stdbuf >/dev/null && buf='stdbuf -oL -eL'; "
        f"if [ -x {prog} ]; then cmd={prog}; "
        f'else cmd="$(head -n1 {prog} | sed -n "s/^#!//p") {prog}"; fi; '
        f"{guard}$buf $cmd 2>&1; echo $? >&2"
    )
    host_limit = (limit if limit > 0 else 24 * 3600) + 30
    got = guest.stream(f"sh -c {shlex.quote(script)}", host_limit)
    out, err, duration = got.stdout, got.stderr, got.duration
    rc: int | None = None
    err_lines = err.strip().splitlines()
    if err_lines and err_lines[-1].strip().lstrip("-").isdigit():
        rc = int(err_lines[-1].strip())
    result = ProgramResult(
        program=program,
        output=out,
        rc=rc,
        duration_s=round(duration, 3),
        timeout=limit,
        timed_out=got.host_timeout
        or (limit > 0 and (rc == TIMEOUT_RC or (rc == 128 + 9 and duration >= limit))),
        guest_died=got.died,
        suite=ktap.parse(out),
    )
    if kernel_log and not got.died:
        result.kernel_log = kernel_log_since(guest, marker)
    return result


def kernel_log_since(guest: RunningGuest, marker: str) -> list[str]:
    """Kernel log lines after *marker* (written to /dev/kmsg before the program started)."""
    try:
        res = guest.run("dmesg", timeout=30)
    except (HarnessError, OSError, paramiko.SSHException):
        return []
    lines = res.stdout.splitlines()
    idx = next((i for i in range(len(lines) - 1, -1, -1) if marker in lines[i]), None)
    return lines[idx + 1 :] if idx is not None else []
