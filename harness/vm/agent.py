"""Host side of the guest agent: one long-lived guest Python, started by the guest's own
init, answering operations over a virtio-serial port.

A call is one JSON line each way (~20 ms under TCG), where a fresh `ssh exec python3 ...`
would cost ~0.3 s plus ~2 s to import pyroute2; and a guest restored from a snapshot is
ready as soon as the port reconnects — no SSH handshake on that path. Every call is
logged with its host and guest durations and kept as a step of the current test.
After a call times out the stream can no longer be trusted (the late answer would be read
as the next call's), so the agent is marked broken and its VM gets replaced.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from ..errors import CommandTimeout, GuestDied, GuestOpError, HarnessError, SetupStepFailed

MAX_STEPS = 300


@dataclass(frozen=True)
class NsContext:
    """Where a guest op runs: a forked child that joined these namespaces (paths of ns
    files in the guest) and, with `sysfs`, remounted /sys as `ip netns exec` does, so
    /sys/class/net shows the joined netns. An empty context is a plain child of the agent."""

    net: str | None = None
    mnt: str | None = None
    uts: str | None = None
    ipc: str | None = None
    pid: str | None = None
    cgroup: str | None = None
    time: str | None = None
    sysfs: bool = False

    def wire(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v}


CHILD = NsContext()  # "in a fresh child process": the op may change its own namespaces


@dataclass
class Step:
    op: str
    ctx: dict
    args: str
    host_s: float
    guest_s: float | None
    ok: bool
    error: str | None = None


@dataclass
class AgentChannel:
    """The host end of the guest agent's virtio-serial port (a Unix socket of QEMU's in the
    VM's private directory: only this user can reach it, like the QMP socket).

    It knows its guest only through *raise_if_dead(grace)*, which raises GuestDied when the
    guest is gone: a dead guest ends a wait at once instead of after the op's timeout."""

    path: str  # the port's Unix socket
    label: str  # the kernel's label, for the log
    raise_if_dead: Callable[[float], None]
    info: dict = field(default_factory=dict)
    calls: int = 0
    steps: list[Step] = field(default_factory=list)
    broken: str | None = None
    #: The guest's clean state and kernel-log position (plugin/guestcheck.py), and what
    #: tests learnt about this guest once (e.g. an empty netns's devices): per guest, so a
    #: replaced guest starts over.
    baseline: dict | None = None
    mark: int | None = None
    memo: dict = field(default_factory=dict)

    def __post_init__(self):
        self.log = logging.getLogger(f"nsharness.vm.{self.label}.agent")
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._buf = b""

    def connect(self, timeout: float) -> dict:
        """Connect and say hello (the host's clock and fresh randomness), waiting up to
        *timeout* for the agent — during a cold boot it is still starting — while the
        guest's console is watched for a crash."""
        start = time.monotonic()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(self.path)
        seed = os.urandom(32).hex()
        self.info = self.call("hello", wait=timeout, time_ns=time.time_ns(), seed=seed)
        self.log.info(
            "guest agent answered in %.2f s (%s ops, its start took %.2f s in the guest)",
            time.monotonic() - start,
            self.info.get("ops"),
            self.info.get("start_s", 0),
        )
        return self.info

    def _send(self, data: bytes) -> None:
        self._sock.settimeout(10)
        self._sock.sendall(data)

    def _read_line(self, what: str, timeout: float) -> dict:
        """One JSON line; while waiting, a dead guest ends the wait with GuestDied."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandTimeout(f"guest agent: no answer to {what} within {timeout:g} s")
            self._sock.settimeout(min(left, 0.25))
            try:
                chunk = self._sock.recv(1 << 16)
            except TimeoutError:
                self.raise_if_dead(0.0)
                continue
            if not chunk:
                self.raise_if_dead(3.0)
                raise HarnessError(f"guest agent connection closed during {what}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def call(self, op: str, *, ctx: NsContext | None = None, wait: float = 60.0, **args):
        """Run guest operation *op* (in a child that entered *ctx*, if given), waiting at
        most *wait* seconds for its answer (args are the op's own, `timeout` included)."""
        if self.broken:
            raise GuestDied(f"guest agent unusable: {self.broken}")
        rid = next(self._ids)
        wire = ctx.wire() if ctx is not None else None
        req = {"id": rid, "op": op, "args": args, "ctx": wire, "fork": ctx is not None}
        start = time.monotonic()
        try:
            self._send((json.dumps(req) + "\n").encode())
            resp = self._read_line(op, wait)
        except CommandTimeout:
            self.broken = f"op {op} timed out after {wait:g} s"
            self._step(op, wire, args, start, None, False, self.broken)
            raise CommandTimeout(f"guest op {op} timed out after {wait:g} s") from None
        except (OSError, HarnessError) as e:
            self.broken = f"op {op}: {e}"
            self._step(op, wire, args, start, None, False, str(e)[:200])
            raise
        self.calls += 1
        if resp.get("id") != rid:
            self.broken = f"answer to request {resp.get('id')} while waiting for {rid}"
            raise HarnessError(f"guest agent out of step: {self.broken}")
        err = None if resp["ok"] else f"{resp['error'].get('type')}: {resp['error'].get('msg')}"
        self._step(op, wire, args, start, resp.get("guest_s"), resp["ok"], err)
        if not resp["ok"]:
            if resp["error"].get("type") == "SetupError":  # the guest could not set the scene
                step, _, detail = str(resp["error"].get("msg", "")).partition(": ")
                raise SetupStepFailed(f"{op}: {step}", detail or step)
            raise GuestOpError(op, resp["error"])
        return resp["result"]

    def _step(self, op, ctx, args, start, guest_s, ok, error) -> None:
        host_s = round(time.monotonic() - start, 4)
        text = json.dumps(args, default=str)
        self.log.info(
            "op %s%s %s -> %s in %.3f s (guest %s s)",
            op,
            f" in {ctx}" if ctx else "",
            text if len(text) < 160 else text[:157] + "...",
            "ok" if ok else error,
            host_s,
            guest_s,
        )
        if len(self.steps) < MAX_STEPS:
            self.steps.append(Step(op, ctx or {}, text[:300], host_s, guest_s, ok, error))

    def take_steps(self) -> list[dict]:
        """The steps since the last take, as plain dicts (for a test's record)."""
        out, self.steps = [asdict(s) for s in self.steps], []
        return out

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
