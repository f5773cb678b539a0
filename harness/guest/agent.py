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

import nsops  # noqa: E402
import probes  # noqa: E402

OPS: dict = {}
NETNS: dict[str, dict] = {}


def op(fn):
    OPS[fn.__name__] = fn
    return fn


for _mod in (nsops, probes):
    for _name in getattr(_mod, "EXPORTS", ()):
        OPS[_name] = getattr(_mod, _name)
for _name in (
    "links",
    "class_net",
    "virtual_net",
    "sysfs_attrs",
    "proc_net_dev",
    "ns_inodes",
    "sh",
    "ifindex",
    "wait_gone",
    "link_up",
):
    OPS[_name] = getattr(nsops, _name)


# ------------------------------------------------------------------ netns lifecycle


def _ensure_run_netns() -> None:
    """Make /run/netns a shared mount point, as `ip netns add` does, so bind mounts made
    under it propagate to every mount namespace that later copies this one."""
    os.makedirs(nsops.NETNS_RUN_DIR, exist_ok=True)
    try:
        nsops.mount("", nsops.NETNS_RUN_DIR, None, nsops.MS_SHARED | nsops.MS_REC)
    except OSError:
        nsops.mount(nsops.NETNS_RUN_DIR, nsops.NETNS_RUN_DIR, None, nsops.MS_BIND | nsops.MS_REC)
        nsops.mount("", nsops.NETNS_RUN_DIR, None, nsops.MS_SHARED | nsops.MS_REC)


def _assign_nsid(fd: int) -> int:
    with nsops.ipr() as ip:
        ip.set_netnsid(fd=fd)
        return ip.get_netnsid(fd=fd)["nsid"]


def _nsid_alive(nsid: int) -> bool:
    with nsops.ipr() as ip:
        try:
            res = ip.get_netnsid(nsid=nsid)
        except Exception:  # noqa: BLE001 - ENOENT: the id (and the netns) is gone
            return False
        return bool(res) and res.get("nsid") is not None


@op
def netns_create(name: str, anonymous: bool = False) -> dict:
    """A new netns: named (bind-mounted at /run/netns/NAME, like `ip netns add`) or
    anonymous (kept alive only by an fd the agent holds)."""
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    path = f"{nsops.NETNS_RUN_DIR}/{name}"
    if not anonymous:
        _ensure_run_netns()
        if os.path.exists(path):
            raise FileExistsError(17, f"netns {name} exists")
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    pid = os.fork()
    if pid == 0:  # child: make the netns, pin it, report, wait to be released
        code = 0
        try:
            nsops.unshare(nsops.CLONE["net"])
            if not anonymous:
                nsops.mount("/proc/self/ns/net", path, "none", nsops.MS_BIND)
            os.write(w, b"ok")
        except BaseException as e:  # noqa: BLE001
            os.write(w, str(e).encode() or b"error")
            code = 1
        os.read(go_r, 1)
        os._exit(code)
    os.close(w)
    msg = os.read(r, 4096).decode()
    os.close(r)
    fd = None
    try:
        if msg != "ok":
            raise OSError(f"creating netns {name}: {msg}")
        fd = os.open(path if not anonymous else f"/proc/{pid}/ns/net", os.O_RDONLY)
    finally:
        os.write(go_w, b"x")
        os.close(go_w)
        os.close(go_r)
        os.waitpid(pid, 0)
        if msg != "ok" and not anonymous:
            os.unlink(path)
    nsid = _assign_nsid(fd)
    st = os.fstat(fd)
    if anonymous:
        path = f"/proc/{os.getpid()}/fd/{fd}"
    else:
        os.close(fd)
        fd = None
    h = {
        "name": name,
        "path": path,
        "inode": st.st_ino,
        "dev": st.st_dev,
        "nsid": nsid,
        "anonymous": anonymous,
        "fd": fd,
    }
    NETNS[name] = h
    return h


@op
def netns_destroy(name: str, timeout: float = 10.0) -> dict:
    """Drop what keeps the netns alive, then wait until the kernel really destroyed it
    (its nsid vanishes in cleanup_net); bounded poll, no fixed sleep."""
    h = NETNS.pop(name)
    if h["anonymous"]:
        os.close(h["fd"])
    else:
        nsops.umount2(h["path"], nsops.MNT_DETACH)
        os.unlink(h["path"])
    start = time.monotonic()
    while _nsid_alive(h["nsid"]):
        if time.monotonic() - start > timeout:
            return {"destroyed": False, "waited_s": round(time.monotonic() - start, 3)}
        time.sleep(0.01)
    return {"destroyed": True, "waited_s": round(time.monotonic() - start, 4)}


@op
def netns_forget(name: str) -> None:
    """Drop the agent's record of a netns someone else (e.g. `ip netns del`) released."""
    h = NETNS.pop(name)
    if h["fd"] is not None:
        os.close(h["fd"])


@op
def nsid_alive(nsid: int) -> bool:
    return _nsid_alive(nsid)


# ------------------------------------------------------------------ other namespaces

HOLDERS: dict[int, tuple[int, int]] = {}


@op
def ns_hold(kinds: list[str], hostname: str | None = None) -> dict:
    """Namespaces of other types (mnt, uts, ipc...) kept by a waiting process (nsops.hold)."""
    pid, go_w = nsops.hold(kinds, hostname)
    HOLDERS[pid] = (pid, go_w)
    paths = {k: f"/proc/{pid}/ns/{k}" for k in kinds}
    return {"pid": pid, "paths": paths, "inodes": {k: os.stat(p).st_ino for k, p in paths.items()}}


@op
def ns_release(pid: int) -> bool:
    return nsops.release(*HOLDERS.pop(pid))


# ------------------------------------------------------------------ kernel log


@op
def kmsg_mark() -> int:
    """The sequence number of the newest kernel log record."""
    last = -1
    for seq, _text in _kmsg_records():
        last = seq
    return last


@op
def kmsg_since(seq: int) -> list[str]:
    """Kernel log lines recorded after *seq*, formatted like dmesg ("[  1.234] text")."""
    return [text for s, text in _kmsg_records() if s > seq]


def _kmsg_records():
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                rec = os.read(fd, 8192).decode(errors="replace")
            except BlockingIOError:
                return
            except OSError:  # EPIPE: overwritten records; keep reading
                continue
            head, _, body = rec.partition(";")
            fields = head.split(",")
            seq, usec = int(fields[1]), int(fields[2])
            lines = body.rstrip("\n").split("\n")
            text = lines[0]
            yield seq, f"[{usec // 1000000:5d}.{usec % 1000000:06d}] {text}"
    finally:
        os.close(fd)


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
    ctx = req.get("ctx")
    if ctx:
        return _in_child(fn, ctx, args)
    try:
        return {"ok": True, "result": fn(**args)}
    except BaseException as e:  # noqa: BLE001
        return {"ok": False, "error": _error(e)}


def main() -> None:
    import pyroute2  # noqa: F401 - pay the import once, before the first request

    out = sys.stdout
    out.write(
        json.dumps(
            {
                "ready": True,
                "pid": os.getpid(),
                "python": sys.version.split()[0],
                "pyroute2": getattr(pyroute2, "__version__", "?"),
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
