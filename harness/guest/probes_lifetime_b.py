"""Guest probes of the lifetime area, part B: `ip netns delete` while an fd is held
(item 21) and a netns's destruction seen on every channel (22). The creator, sentinel and
watching machinery is in probes_lifetime_a."""

from __future__ import annotations

import os
import subprocess
import time

from . import rtnl
from .lifecycle import kmsg_mark, kmsg_since
from .probes_lifetime_a import Born, events, mountinfo_at, sentinel_gone, state, watch
from .probes_setns_a import SetupError
from .registry import op


class _Named:
    def __init__(self, nsid: int, peer: str):
        self.nsid, self.peer = nsid, peer


def _sh(step: str, cmd: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise SetupError(
            f"{step}: `{' '.join(cmd)}` exit {r.returncode}: {r.stderr.strip()[-200:]}"
        )
    return r


@op
def ip_netns_delete_keepalive(name: str = "nshl21d") -> dict:
    """`ip netns delete NAME` while we hold an fd of /run/netns/NAME: the name and its
    mount go (iproute2: umount2(MNT_DETACH) + unlink), the netns lives until the fd closes."""
    path = f"/run/netns/{name}"
    ev = events()
    log: list[dict] = []
    s = fd = None
    peer = name + "i"
    try:
        s = Born(name + "s")
        _sh("create the netns", ["ip", "netns", "add", name])
        fd = os.open(path, os.O_RDONLY)
        with rtnl.Rtnl() as r:
            res = r.add(peer, "veth", peer=name + "p", peer_netns_fd=fd)
            if res["errno"]:
                raise SetupError(f"veth {peer} with its peer in {name}: {res['errno']}")
            nsid = r.assign_nsid(fd)
        if nsid is None:
            raise SetupError(f"giving netns {name} an id in init's table: none assigned")
        n = _Named(nsid, peer)
        out = {"ino": os.fstat(fd).st_ino, "nsid": nsid, "peer": peer,
               "mountinfo_before": mountinfo_at(path)}  # fmt: skip
        r = subprocess.run(
            ["ip", "netns", "delete", name], capture_output=True, text=True, timeout=30
        )
        out["delete"] = {"rc": r.returncode, "stderr": r.stderr.strip()[-200:]}
        out["name_exists"] = os.path.exists(path)
        out["mountinfo_after"] = mountinfo_at(path)
        out["sentinel"] = sentinel_gone(ev, s, log)
        out["alive"] = state(n, log)
        out["fd_ino"] = os.fstat(fd).st_ino
        os.close(fd)
        fd = None
        out["after_close"] = watch(ev, n, log)
        return out
    finally:
        ev.close()
        if fd is not None:
            os.close(fd)
        if os.path.exists(path):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)
        if s:
            s.cleanup()
        if rtnl.link_present(peer):
            with rtnl.Rtnl() as r:
                r.delete(peer)


# ------------------------------------------------------------------ item 22

UNREGISTER_TIMEOUT = "/proc/sys/net/core/netdev_unregister_timeout_secs"


@op
def netns_destruction(nic: str = "eth1") -> dict:
    """A netns B (veth peer in init, *nic* moved in) loses its last process. Watch every
    channel until all said "destroyed"; then a sentinel netns released afterwards must be
    destroyed too — cleanup work is serialised, so that proves B's teardown returned (a
    leaked device reference would block it in netdev_run_todo). The kernel's complaint
    about such a leak comes after netdev_unregister_timeout_secs: lowered to 1 s here."""
    if not rtnl.link_present(nic):
        raise SetupError(f"the spare NIC {nic} is not in init_net")
    ev = events()
    log: list[dict] = []
    b = s = None
    old_timeout = None
    try:
        b = Born("nshl22")
        s = Born("nshl22s")
        fd = os.open(f"/proc/{b.pid}/ns/net", os.O_RDONLY)
        try:
            with rtnl.Rtnl() as r:
                res = r.set(nic, netns_fd=fd)
        finally:
            os.close(fd)
        if res["errno"] or rtnl.link_present(nic):
            raise SetupError(f"moving {nic} into netns B: {res['errno'] or 'still in init'}")
        if os.path.exists(UNREGISTER_TIMEOUT):
            with open(UNREGISTER_TIMEOUT) as f:
                old_timeout = f.read().strip()
            with open(UNREGISTER_TIMEOUT, "w") as f:
                f.write("1")
        ev.events()  # the move's own events are not part of what we watch
        mark = kmsg_mark()
        out = {"nsid": b.nsid, "peer": b.peer, "nic": nic, "sentinel_nsid": s.nsid}
        out["waitpid_s"] = b.release()
        out["right_after_waitpid"] = state(b, log)  # a race: observed, never judged
        out["B"] = watch(ev, b, log, nic=nic)
        out["sentinel"] = sentinel_gone(ev, s, log)
        if out["sentinel"]["nsid_gone"] is None:  # stuck: give the kernel time to say why
            time.sleep(2.5)
        out["kmsg"] = [ln for ln in kmsg_since(mark) if "unregister_netdevice" in ln]
        out["order"] = [
            e for e in log if e.get("nsid") == b.nsid or e.get("ifname") in (b.peer, nic)
        ]
        return out
    finally:
        ev.close()
        if old_timeout is not None:
            with open(UNREGISTER_TIMEOUT, "w") as f:
                f.write(old_timeout)
        for n in (b, s):
            if n:
                n.cleanup()
