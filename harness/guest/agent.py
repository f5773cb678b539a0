"""The guest agent: one long-lived Python in the VM that runs namespace operations.

Under TCG a guest Python start costs ~0.3 s and importing pyroute2 ~2 s, so the agent
starts once per boot and serves every request over one SSH channel: a JSON line in,
a JSON line out. An operation given a namespace context runs in a forked child that
enters it (fork is a few ms), so the agent itself stays in the initial namespaces and a
scenario can never leave it stranded in one it destroyed.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lifecycle  # noqa: E402 - also registers its ops
import nsops  # noqa: E402
import probes  # noqa: E402,F401 - registers its ops
from registry import OPS  # noqa: E402

# ------------------------------------------------------------------ dispatch


def _error(e: BaseException) -> dict:
    en = getattr(e, "errno", None)
    return {
        "type": type(e).__name__,
        "errno": nsops.errno_name(en) if en else None,
        "msg": str(e),
        "trace": traceback.format_exc(limit=6),
    }


def _in_child(fn, ctx: dict, args: dict):
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
        return _in_child(fn, ctx, args)
    try:
        return {"ok": True, "result": fn(**args)}
    except BaseException as e:  # noqa: BLE001
        return {"ok": False, "error": _error(e)}


def main() -> None:
    t0 = time.monotonic()
    import pyroute2  # noqa: F401 - pay the import once, before the first request
    from pyroute2 import IPRoute  # noqa: F401 - and its netlink classes

    import_s = round(time.monotonic() - t0, 3)
    lifecycle.prepare()

    out = sys.stdout
    out.write(
        json.dumps(
            {
                "ready": True,
                "pid": os.getpid(),
                "python": sys.version.split()[0],
                "pyroute2": getattr(pyroute2, "__version__", "?"),
                "import_s": import_s,
            }
        )
        + "\n"
    )
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        start = time.monotonic()
        resp = handle(req)
        resp["id"] = req.get("id")
        resp["guest_s"] = round(time.monotonic() - start, 4)
        out.write(json.dumps(resp, default=str) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
