"""Guest probes of test_pid_namespaces.py: kernel.pid_max per pid namespace (item 64,
6.14+) and joining a pid namespace that has no process yet (65).

pid_max is read and written from pid 1 of a child pid ns (init's root; root of a user ns
made by uid 65534) and read back from init's: on kernels where the value is global the
write changes init's too, so the probe puts init's value back whatever happens. References:
the value read in the other namespace; NSpid of the joined child through init's /proc.
"""

from __future__ import annotations

import json
import os
import socket

from .nsops import NOBODY, become, enter_own_userns, errno_name, setns, unshare
from .procs import fork_call, nspid
from .registry import op
from .uapi import CLONE

PID_MAX = "/proc/sys/kernel/pid_max"


def _read() -> str:
    with open(PID_MAX) as f:
        return f.read().strip()


def _write(value: int):
    try:
        with open(PID_MAX, "w") as f:
            f.write(str(value))
        return None
    except OSError as e:
        return errno_name(e.errno)


def _in_pid1(value: int) -> dict:
    """What pid 1 of a new pid ns reads, writes *value*, reads back."""
    return {"getpid": os.getpid(), "before": _read(), "write": _write(value), "after": _read()}


@op
def pid_max_per_pidns() -> dict:
    """Item 64: pid 1 of a child pid ns (root of the initial user ns) reads pid_max,
    writes 1000; init's value read afterwards; pid 1 of a pid ns owned by a user ns made by
    uid 65534 writes 2000; uid 65534 writes init's."""
    orig = _read()
    try:

        def root_child():
            unshare(CLONE["pid"])
            return fork_call(_in_pid1, 1000)

        def userns_child():
            become(NOBODY)
            enter_own_userns(CLONE["pid"])
            return fork_call(_in_pid1, 2000)

        def nobody():
            become(NOBODY)
            return _write(5000)

        out = {"init before": orig, "root in a child pid ns": fork_call(root_child)}
        out["init after the child's write"] = _read()
        _write(int(orig))
        out["root of a child user ns, its own pid ns"] = fork_call(userns_child)
        out["init after that write"] = _read()
        _write(int(orig))
        out["uid 65534 writes init's"] = fork_call(nobody)
        out["init at the end"] = _read()
        return out
    finally:
        if _read() != orig:
            _write(int(orig))


@op
def join_empty_pidns() -> dict:
    """Item 65: A unshares CLONE_NEWPID and forks nothing; B opens A's pid_for_children,
    setns()es to it and forks: the child's getpid() and its NSpid through init's /proc."""
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        a.close()
        try:
            unshare(CLONE["pid"])
            b.send(b"ok")
        except OSError as e:
            b.send(errno_name(e.errno).encode())
        b.recv(1)
        os._exit(0)
    b.close()
    try:
        out = {"A unshare": a.recv(64).decode()}

        def joiner():
            try:
                fd = os.open(f"/proc/{pid}/ns/pid_for_children", os.O_RDONLY)
            except OSError as e:
                return {"open A's pid_for_children": errno_name(e.errno)}
            try:
                setns(fd, CLONE["pid"])
            except OSError as e:
                return {"setns": errno_name(e.errno)}
            finally:
                os.close(fd)
            r, w = os.pipe()
            go_r, go_w = os.pipe()
            c = os.fork()
            if c == 0:
                os.close(r)
                os.close(go_w)
                os.write(w, json.dumps({"getpid": os.getpid()}).encode())
                os.read(go_r, 1)  # stay until the parent read our NSpid
                os._exit(0)
            os.close(w)
            os.close(go_r)
            got = {"setns": None, "child": json.loads(os.read(r, 256) or b"{}"),
                   "child NSpid": nspid(c)}  # fmt: skip
            os.close(r)
            os.close(go_w)
            os.waitpid(c, 0)
            return got

        out["B joins and forks"] = fork_call(joiner)
        return out
    finally:
        a.send(b"x")
        os.waitpid(pid, 0)
        a.close()
