"""Processes that hold namespaces, children that run a probe step, threads that race,
and waiting for a condition with a bounded poll.

A namespace is observed from outside through a process that lives in it: a Holder
unshares the namespaces it is asked for (optionally as an unprivileged user in a user
namespace of its own, optionally forking once more for pid and time namespaces), runs a
setup step there, and waits until released. It closes every inherited descriptor first:
a stray copy of another netns's fd or socket would keep that netns alive and falsify a
lifetime probe.
"""

from __future__ import annotations

import json
import os
import time

from . import nsops
from .uapi import CLONE, MNT_DETACH, MS_REC, MS_SLAVE


def close_inherited(keep: set[int]) -> None:
    """Close every descriptor but stdio and *keep* (in a freshly forked child)."""
    for fd in [int(x) for x in os.listdir("/proc/self/fd")]:
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def fork_call(fn, *args, **kw):
    """fn(*args, **kw) in a forked single-threaded child; its JSON-able result, or
    {"exception": ..., "trace": ...} when it raised."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            res = fn(*args, **kw)
        except BaseException as e:  # noqa: BLE001 - carried back as data
            res = {"exception": repr(e), "trace": __import__("traceback").format_exc()[-800:]}
        _write_all(w, json.dumps(res, default=str).encode())
        os._exit(0)
    os.close(w)
    data = _read_all(r)
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data or b'{"exception": "child died without a result"}')


class Holder:
    """A process sitting in new namespaces, reachable through /proc/PID/ns/*.

    kinds: namespace types to unshare. as_uid: become that uid first (with "user" in
    kinds it is then root of its own user namespace). fork_inner: fork once more after
    unshare (pid and time namespaces apply to children). sysfs: remount /sys from inside
    its netns (needs "mnt"), so /proc/PID/root/sys shows that netns. setup: run in the
    holder after all that; its JSON-able result is `info`.
    """

    def __init__(self, kinds=("net",), as_uid=None, fork_inner=False, sysfs=False,
                 hostname=None, setup=None):  # fmt: skip
        self.r, w = os.pipe()
        go_r, self.go_w = os.pipe()
        flags = 0
        for k in kinds:
            flags |= CLONE[k]
        self.outer = os.fork()
        if self.outer == 0:
            close_inherited({self.r, w, go_r, self.go_w})
            os.close(self.r)
            os.close(self.go_w)
            try:
                if as_uid is not None:
                    nsops.become(as_uid)
                if "user" in kinds:
                    nsops.enter_own_userns(flags & ~CLONE["user"])
                else:
                    nsops.unshare(flags)
                if "mnt" in kinds:
                    nsops.mount(None, "/", None, MS_REC | MS_SLAVE)
                    if sysfs:  # (a user ns's inherited /sys is locked: mount over it)
                        if "user" not in kinds:
                            nsops.umount2("/sys", MNT_DETACH)
                        nsops.mount("sysfs", "/sys", "sysfs")
                if hostname:
                    import socket

                    socket.sethostname(hostname)
                if fork_inner:
                    inner = os.fork()
                    if inner:
                        _write_all(w, (json.dumps({"pid": inner}) + "\n").encode())
                        os.close(w)
                        os.waitpid(inner, 0)
                        os._exit(0)
                msg = {"info": setup() if setup else None}
                if not fork_inner:
                    msg["pid"] = os.getpid()
                _write_all(w, (json.dumps(msg, default=str) + "\n").encode())
            except BaseException as e:  # noqa: BLE001
                _write_all(w, (json.dumps({"error": repr(e)}) + "\n").encode())
            os.close(w)
            os.read(go_r, 1)
            os._exit(0)
        os.close(w)
        os.close(go_r)
        msgs: dict = {}
        for line in _read_all(self.r).splitlines():  # EOF once outer (and inner) wrote
            msgs.update(json.loads(line))
        os.close(self.r)
        if "error" in msgs or "pid" not in msgs:
            self.release()
            raise OSError(f"namespace holder failed: {msgs.get('error', msgs)}")
        self.pid: int = msgs["pid"]
        self.info = msgs.get("info")

    def ns(self, kind: str = "net") -> str:
        return f"/proc/{self.pid}/ns/{kind}"

    def ino(self, kind: str = "net") -> int:
        return os.stat(self.ns(kind)).st_ino

    def release(self) -> None:
        if self.go_w is not None:
            os.close(self.go_w)
            self.go_w = None
            os.waitpid(self.outer, 0)

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def run_threads(fns: list) -> list:
    """Run callables in threads at once (a barrier starts them together); their results,
    or the exceptions they raised."""
    import threading  # (imports cost ~6x more in a TCG guest: only when needed)

    results: list = [None] * len(fns)
    barrier = threading.Barrier(len(fns))

    def wrap(i, fn):
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as e:  # noqa: BLE001 - carried back to the caller
            results[i] = e

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def wait_until(pred, timeout: float = 10.0, step: float = 0.005, also=None) -> float | None:
    """Seconds until pred() held (calling *also* before each try), or None if it did not
    within *timeout*."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if also:
            also()
        if pred():
            return round(time.monotonic() - start, 4)
        time.sleep(step)
    return None


def nspid(pid: int, tid: int | None = None) -> list[int]:
    """The NSpid line of process *pid* (of its thread *tid*): its pid in each pid ns, from
    the initial one down to its own."""
    path = f"/proc/{pid}/task/{tid}/status" if tid is not None else f"/proc/{pid}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    return []
