"""Host side of the guest agent: push the guest code, start it once, call operations.

A call is one JSON line each way on an open SSH channel (~20 ms under TCG), where a
fresh `ssh exec python3 ...` would cost ~0.3 s plus ~2 s to import pyroute2.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CommandTimeout, HarnessError

GUEST_DIR = Path(__file__).resolve().parent / "guest"
REMOTE_DIR = "/run/nsh"


class GuestOpError(HarnessError):
    """A guest operation failed; `errno` holds the errno name (EINVAL, EPERM...) if any."""

    def __init__(self, op: str, error: dict):
        self.op = op
        self.errno = error.get("errno")
        self.type = error.get("type")
        self.detail = error
        super().__init__(f"guest op {op} failed: {error.get('type')}: {error.get('msg')}")


@dataclass
class Agent:
    machine: object  # harness.machine.Machine (kept loose: no import cycle)
    info: dict = field(default_factory=dict)
    calls: int = 0

    def __post_init__(self):
        ssh = self.machine.ssh
        ssh.run(f"mkdir -p {REMOTE_DIR}", check=True)
        for f in sorted(GUEST_DIR.glob("*.py")):
            ssh.put(f, f"{REMOTE_DIR}/{f.name}")
        self._chan = ssh.open_channel(f"cd {REMOTE_DIR} && exec python3 -u agent.py")
        self._out = self._chan.makefile("rb")
        self._ids = itertools.count(1)
        self._chan.settimeout(120)
        self.info = self._read_line("agent start")
        if not self.info.get("ready"):
            raise HarnessError(f"guest agent did not start: {self.info}")

    def _read_line(self, what: str) -> dict:
        try:
            line = self._out.readline()
        except TimeoutError as e:
            raise CommandTimeout(f"guest agent: no answer to {what}") from e
        if not line:
            err = (
                self._chan.recv_stderr(65536).decode(errors="replace")
                if self._chan.recv_stderr_ready()
                else ""
            )
            self.machine._raise_if_dead()
            raise HarnessError(f"guest agent exited during {what}: {err.strip()[-500:]}")
        return json.loads(line)

    def call(self, op: str, *, ctx: dict | None = None, timeout: float = 60.0, **args):
        """Run guest operation *op*; with *ctx* ({"net": path, "sysfs": "remount",
        "fork": 1}) it runs in a child that entered those namespaces first."""
        rid = next(self._ids)
        req = {"id": rid, "op": op, "args": args, "ctx": ctx}
        self._chan.settimeout(timeout)
        self._chan.sendall((json.dumps(req) + "\n").encode())
        resp = self._read_line(op)
        self.calls += 1
        if resp.get("id") != rid:
            raise HarnessError(f"guest agent answered request {resp.get('id')}, expected {rid}")
        if not resp["ok"]:
            raise GuestOpError(op, resp["error"])
        return resp["result"]

    def close(self) -> None:
        try:
            self._chan.close()
        except Exception:  # noqa: BLE001 - the guest may be gone
            pass


class NetNS:
    """A network namespace in the guest, as a test holds it."""

    def __init__(self, agent: Agent, handle: dict):
        self.agent = agent
        self.name: str = handle["name"]
        self.path: str = handle["path"]
        self.inode: int = handle["inode"]
        self.nsid: int = handle["nsid"]
        self.anonymous: bool = handle["anonymous"]
        self.destroyed = False

    def call(self, op: str, *, sysfs: bool = False, **args):
        """Run a guest op inside this netns (sysfs=True: with sysfs remounted, as
        `ip netns exec` does, so /sys/class/net shows this namespace)."""
        ctx = {"net": self.path, **({"sysfs": "remount"} if sysfs else {})}
        return self.agent.call(op, ctx=ctx, **args)

    def sh(self, cmd: str, check: bool = True) -> dict:
        """A shell command inside this netns (with its own sysfs view)."""
        r = self.call("sh", sysfs=True, cmd=cmd)
        if check and r["rc"] != 0:
            raise HarnessError(f"in netns {self.name}: '{cmd}' exited {r['rc']}: {r['err']}")
        return r

    def views(self) -> dict:
        return self.call("views", sysfs=True)

    def destroy(self, timeout: float = 10.0) -> float:
        """Release the namespace and wait for the kernel to destroy it; seconds waited."""
        res = self.agent.call("netns_destroy", name=self.name, timeout=timeout)
        self.destroyed = True
        if not res["destroyed"]:
            raise HarnessError(f"netns {self.name} still exists {res['waited_s']}s after release")
        return res["waited_s"]

    def __repr__(self) -> str:
        return f"NetNS({self.name}, inode={self.inode}, nsid={self.nsid})"


class NsHolder:
    """Namespaces of other types (mnt, uts, ipc...) held open by a waiting guest process."""

    def __init__(self, agent: Agent, handle: dict):
        self.agent = agent
        self.pid: int = handle["pid"]
        self.paths: dict[str, str] = handle["paths"]
        self.inodes: dict[str, int] = handle["inodes"]
        self.released = False

    def call(self, op: str, **args):
        """Run a guest op in a child that joined all of the held namespaces."""
        return self.agent.call(op, ctx=dict(self.paths), **args)

    def release(self) -> None:
        self.released = True
        if not self.agent.call("ns_release", pid=self.pid):
            raise HarnessError(f"namespace holder {self.pid} did not exit")
