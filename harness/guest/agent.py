"""The guest agent: one long-lived Python in the VM that runs namespace operations.

Started by the guest's own init (rc: `python3 -m guest.agent` in /run/nsh) and reached over
a virtio-serial port, it serves every request of a boot — and of every guest restored from
that boot's snapshot: a JSON line in, a JSON line out. An operation given a namespace
context runs in a forked child that enters it (fork is a few ms), so the agent itself stays
in the initial namespaces and a scenario can never leave it stranded in one it destroyed.
Its probes speak raw rtnetlink (rtnl.py) rather than pyroute2, whose import alone costs
~2 s under TCG. The ops are those the modules in registry.OP_MODULES register: this module
imports them, dispatches each request to its op and writes the answer back.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import sys
import time

from . import lifecycle, nsops
from .registry import OP_MODULES, OPS
from .uapi import AGENT_PORT

for _name in OP_MODULES:
    importlib.import_module(f".{_name}", __package__)


def _error(e: BaseException) -> dict:
    en = getattr(e, "errno", None)
    return {
        "type": type(e).__name__,
        "errno": nsops.errno_name(en) if en else None,
        "msg": str(e),
        "trace": __import__("traceback").format_exc(limit=6),
    }


def _answer_in_child(fn, ctx: dict, args: dict):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            nsops.enter(ctx)
            out = {"ok": True, "result": fn(**args)}
        except BaseException as e:  # noqa: BLE001
            out = {"ok": False, "error": _error(e)}
        data = json.dumps(out, default=str).encode()
        with os.fdopen(w, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    if not data:
        return {
            "ok": False,
            "error": {
                "type": "ChildDied",
                "errno": None,
                "msg": "operation child exited without a result",
            },
        }
    return json.loads(data)


def handle(req: dict) -> dict:
    fn = OPS.get(req.get("op"))
    if fn is None:
        return {
            "ok": False,
            "error": {"type": "UnknownOp", "errno": None, "msg": f"no guest op {req.get('op')!r}"},
        }
    args = req.get("args") or {}
    ctx = req.get("ctx") or {}
    if ctx or req.get("fork"):
        return _answer_in_child(fn, ctx, args)
    try:
        return {"ok": True, "result": fn(**args)}
    except BaseException as e:  # noqa: BLE001
        return {"ok": False, "error": _error(e)}


# ------------------------------------------------------------------ transport


def _port_device(name: str = AGENT_PORT) -> str:
    """The virtio-serial port QEMU names *name* (no udev here: read sysfs)."""
    base = "/sys/class/virtio-ports"
    for port in sorted(os.listdir(base)) if os.path.isdir(base) else []:
        try:
            with open(f"{base}/{port}/name") as f:
                if f.read().strip() == name:
                    return f"/dev/{port}"
        except OSError:
            continue
    raise FileNotFoundError(f"no virtio-serial port named {name}")


def serve(fd: int) -> None:
    """Requests in, answers out, over the port; a host that went away (a snapshot saved,
    a harness restarted) is waited for, not an error: poll says POLLHUP until it is back."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP)
    buf = b""
    while True:
        events = dict(poller.poll(1000))
        ev = events.get(fd, 0)
        if ev & select.POLLIN:
            chunk = os.read(fd, 1 << 16)
            if chunk:
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        _answer(fd, json.loads(line))
                continue
        if ev & select.POLLHUP or not ev:
            buf = b""  # a half request from a host that left is void
            time.sleep(0.005)


def _answer(fd: int, req: dict) -> None:
    start = time.monotonic()
    resp = handle(req)
    resp["id"] = req.get("id")
    resp["guest_s"] = round(time.monotonic() - start, 4)
    data = (json.dumps(resp, default=str) + "\n").encode()
    while data:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            time.sleep(0.001)


def main() -> None:
    start = time.monotonic()
    lifecycle.prepare()
    lifecycle.READY.update(
        ready=True,
        pid=os.getpid(),
        python=sys.version.split()[0],
        ops=len(OPS),
        start_s=round(time.monotonic() - start, 3),
    )
    fd = os.open(_port_device(), os.O_RDWR)
    with open("/dev/kmsg", "w") as k:
        k.write(f"nsharness: agent ready ({len(OPS)} ops)\n")
    serve(fd)


if __name__ == "__main__":
    main()
