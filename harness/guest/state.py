"""The initial namespaces' state, for the isolation check after every test: what a test
may leave behind (links, addresses, mounts, /run/netns, live netns references, nsids,
processes, hostname), as comparable lists — and the best-effort undo."""

from __future__ import annotations

import os
import time

from . import lifecycle, nsops, rtnl
from .lifecycle import HOLDERS, NETNS, netns_destroy
from .nsops import NETNS_RUN_DIR
from .registry import op
from .uapi import MNT_DETACH


def _netns_refs() -> dict[int, list[str]]:
    """Every network namespace something still points at: processes, their open fds, and
    nsfs bind mounts, as {inode: [who]}."""
    refs: dict[int, list[str]] = {}
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            refs.setdefault(os.stat(f"/proc/{pid}/ns/net").st_ino, []).append(f"pid {pid}")
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("net:["):
                    refs.setdefault(int(link[5:-1]), []).append(f"fd {fd} of pid {pid}")
        except OSError:
            continue
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[3].startswith("net:["):
                refs.setdefault(int(fields[3][5:-1]), []).append(f"mount {fields[4]}")
    return refs


def _processes() -> list[str]:
    """User-space processes other than this agent and its own children."""
    me, out = os.getpid(), []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if not cmd or ppid == me:  # kernel threads have no cmdline; op children are ours
            continue
        out.append(cmd[:120])
    return sorted(out)


@op
def init_state() -> dict:
    """What a test may leave behind in the initial namespaces, as comparable lists."""
    with rtnl.Rtnl() as r:
        links = r.names()
        addrs = r.addresses()
    nsids = rtnl.nsid_table()
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(f"{ln.split()[4]} {ln.split(' - ')[1].split()[0]}" for ln in f)
    refs = _netns_refs()
    own = os.stat("/proc/self/ns/net").st_ino
    held = {h["inode"] for h in NETNS.values()}
    return {
        "links": links,
        "class_net": sorted(os.listdir("/sys/class/net")),
        "addresses": addrs,
        "mounts": mounts,
        "run_netns": sorted(os.listdir(NETNS_RUN_DIR)) if os.path.isdir(NETNS_RUN_DIR) else [],
        "netns": sorted(
            f"net:[{i}] ({', '.join(sorted(w)[:3])})"
            for i, w in refs.items()
            if i != own and i not in held
        ),
        "nsids": nsids,
        "processes": _processes(),
        "hostname": os.uname().nodename,
        "harness_netns": sorted(NETNS),
        "holders": sorted(HOLDERS),
    }


@op
def restore_init_state(baseline: dict) -> dict:
    """Undo what a test left in the initial namespaces, as far as it can be undone:
    extra links deleted, extra mounts detached, /run/netns entries removed, stray
    processes killed. Returns the state afterwards."""
    import signal
    import subprocess

    now = init_state()
    for name in sorted(set(now["links"]) - set(baseline["links"])):
        subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=10)
    for entry in reversed(sorted(set(now["mounts"]) - set(baseline["mounts"]))):
        try:
            nsops.umount2(entry.rsplit(" ", 1)[0], MNT_DETACH)
        except OSError:
            pass
    for name in sorted(set(now["run_netns"]) - set(baseline["run_netns"])):
        path = f"{NETNS_RUN_DIR}/{name}"
        try:
            nsops.umount2(path, MNT_DETACH)
        except OSError:
            pass
        try:
            os.unlink(path)
        except OSError:
            pass
    extra = set(now["processes"]) - set(baseline["processes"])
    if extra:
        me = os.getpid()
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) != me:
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                    if cmd[:120] in extra:
                        os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
    if now["hostname"] != baseline["hostname"]:
        import socket

        socket.sethostname(baseline["hostname"])
    for name in list(NETNS):
        if name not in baseline["harness_netns"]:
            try:
                netns_destroy(name, timeout=5)
            except Exception:  # noqa: BLE001 - best effort, the re-check reports it
                pass
    time.sleep(0.05)
    return init_state()


@op
def after_test(seq: int) -> dict:
    """Everything the harness checks after a test, in one round trip: the kernel log since
    *seq*, the initial namespaces' state, and the mark the next test starts from."""
    lines = lifecycle.kmsg_since(seq)
    return {"kmsg": lines, "state": init_state(), "mark": lifecycle.kmsg_mark()}
