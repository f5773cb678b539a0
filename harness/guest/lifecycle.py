"""Guest ops of the guest's own life: its preparation at start, the handshake that opens
every host connection, what tests create (network namespaces, named or anonymous, and
holders of other namespace types) and the kernel log around each test."""

from __future__ import annotations

import os
import struct
import time

from . import nsops, rtnl
from .nsops import NETNS_RUN_DIR
from .procs import Holder
from .registry import op
from .uapi import CLONE, MNT_DETACH, MS_BIND, MS_REC, MS_SHARED

NETNS: dict[str, dict] = {}
#: What the agent reports about itself once it is ready (set by agent.main, read by hello).
READY: dict = {}


# ------------------------------------------------------------------ start and handshake


def prepare() -> None:
    """Set the guest up once, before the baseline of the initial namespaces is taken, so
    these are not read as a test's leftovers: /run/netns made shared the way `ip netns
    add` does on first use, and the device drivers the scenarios use loaded (dummy with
    numdummies=0: loading it on first use would otherwise add a dummy0 to init)."""
    _ensure_run_netns()
    with open("/proc/modules") as f:
        loaded = {line.split()[0] for line in f}
    builtin = _builtin_modules() | {m for m in os.listdir("/sys/module")}
    missing = [m for m in ("dummy", "veth", "macvlan", "tun") if m not in loaded | builtin]
    if missing:  # the initrd inserts these already; a modprobe exec costs ~0.5 s under TCG
        import subprocess

        if "dummy" in missing:
            subprocess.run(["modprobe", "dummy", "numdummies=0"], capture_output=True, timeout=60)
        others = [m for m in missing if m != "dummy"]
        if others:
            subprocess.run(["modprobe", "-a", *others], capture_output=True, timeout=60)


def _builtin_modules() -> set[str]:
    try:
        with open(f"/lib/modules/{os.uname().release}/modules.builtin") as f:
            return {os.path.basename(x).split(".ko")[0] for x in f.read().split()}
    except OSError:
        return set()


@op
def hello(time_ns: int | None = None, seed: str | None = None) -> dict:
    """First call of every host connection — after a cold boot or a snapshot restore: set
    the wall clock to the host's and mix fresh host randomness into the kernel's pool and
    reseed it, so a restored guest never shares clock or random state with its snapshot."""
    import fcntl

    if time_ns:
        nsops.set_realtime(time_ns)
    if seed:
        rndaddentropy, rndreseedcrng = 0x40085203, 0x5207
        data = bytes.fromhex(seed)
        req = struct.pack("ii", len(data) * 8, len(data)) + data
        with open("/dev/urandom", "wb") as f:
            fcntl.ioctl(f.fileno(), rndaddentropy, req)
            try:
                fcntl.ioctl(f.fileno(), rndreseedcrng)
            except OSError:
                pass
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot_id = f.read().strip()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return {**READY, "boot_id": boot_id, "uptime_s": uptime}


# ------------------------------------------------------------------ netns lifecycle


def _ensure_run_netns() -> None:
    """Make /run/netns a shared mount point, as `ip netns add` does, so bind mounts made
    under it propagate to every mount namespace that later copies this one."""
    os.makedirs(NETNS_RUN_DIR, exist_ok=True)
    try:
        nsops.mount("", NETNS_RUN_DIR, None, MS_SHARED | MS_REC)
    except OSError:
        nsops.mount(NETNS_RUN_DIR, NETNS_RUN_DIR, None, MS_BIND | MS_REC)
        nsops.mount("", NETNS_RUN_DIR, None, MS_SHARED | MS_REC)


def _assign_nsid(fd: int) -> int:
    with rtnl.Rtnl() as r:
        nsid = r.assign_nsid(fd)
    if nsid is None:
        raise nsops.ErrnoError(0, "could not assign a netns id")
    return nsid


@op
def netns_create(name: str, anonymous: bool = False) -> dict:
    """A new netns: named (bind-mounted at /run/netns/NAME, like `ip netns add`) or
    anonymous (kept alive only by an fd the agent holds)."""
    r, w = os.pipe()
    go_r, go_w = os.pipe()
    path = f"{NETNS_RUN_DIR}/{name}"
    if not anonymous:
        _ensure_run_netns()
        if os.path.exists(path):
            raise FileExistsError(17, f"netns {name} exists")
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0))
    pid = os.fork()
    if pid == 0:  # child: make the netns, pin it, report, wait to be released
        code = 0
        try:
            nsops.unshare(CLONE["net"])
            if not anonymous:
                nsops.mount("/proc/self/ns/net", path, "none", MS_BIND)
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
    """Drop what keeps the netns alive, then wait until the kernel really destroyed it,
    watched two ways: its nsid leaves the id table, and an RTM_DELNSID event arrives.
    Bounded poll, no fixed sleep."""
    h = NETNS.pop(name)
    events = rtnl.nsid_events()
    try:
        if h["anonymous"]:
            os.close(h["fd"])
        else:
            nsops.umount2(h["path"], MNT_DETACH)
            os.unlink(h["path"])
        start = time.monotonic()
        gone = event = False
        while time.monotonic() - start < timeout:
            gone = gone or h["nsid"] not in rtnl.nsid_table()
            event = event or ("del", h["nsid"]) in rtnl.read_nsid_events(events)
            if gone and event:
                break
            if (gone or event) and time.monotonic() - start > 1.0:
                break  # one sign is enough for the caller; don't wait for a broken other
            time.sleep(0.005)
        return {
            "destroyed": gone,
            "delnsid_event": event,
            "waited_s": round(time.monotonic() - start, 4),
        }
    finally:
        events.close()


@op
def netns_forget(name: str) -> None:
    """Drop the agent's record of a netns someone else (e.g. `ip netns del`) released."""
    h = NETNS.pop(name)
    if h["fd"] is not None:
        os.close(h["fd"])


@op
def nsid_alive(nsid: int) -> bool:
    return nsid in rtnl.nsid_table()


@op
def loaded_modules() -> list[str]:
    """Modules loaded now (/proc/modules)."""
    with open("/proc/modules") as f:
        return sorted(line.split()[0] for line in f)


# ------------------------------------------------------------------ other namespaces

HOLDERS: dict[int, Holder] = {}


@op
def ns_hold(kinds: list[str], hostname: str | None = None) -> dict:
    """Namespaces of other types (mnt, uts, ipc...) kept by a waiting process."""
    h = Holder(kinds=tuple(kinds), hostname=hostname)
    HOLDERS[h.pid] = h
    paths = {k: h.ns(k) for k in kinds}
    return {"pid": h.pid, "paths": paths, "inodes": {k: h.ino(k) for k in kinds}}


@op
def ns_release(pid: int) -> bool:
    HOLDERS.pop(pid).release()
    return not os.path.exists(f"/proc/{pid}")


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
