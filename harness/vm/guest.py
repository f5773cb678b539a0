"""The interface of a running guest for the layers above the VM (typed ops, fixtures,
kselftest items): commands and files over SSH, a command streamed on its own channel, the
agent's channel, and what a test needs to know of the guest's health. The Machine
implements it; nothing above this line reaches into QEMU, the console or SSH itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .agent import AgentChannel
from .ssh import Result


@dataclass(frozen=True)
class Streamed:
    """What a streamed command printed, however it ended: done, past its host limit
    (*host_timeout*), or with the guest gone (*died*: the console's account)."""

    stdout: str
    stderr: str
    duration: float
    host_timeout: bool = False
    died: str | None = None


class RunningGuest(Protocol):
    label: str
    starts: list[dict]

    @property
    def agent(self) -> AgentChannel: ...

    @property
    def snapshots(self) -> bool:
        """Whether a fresh guest is a restore away (a snapshot exists or will)."""
        ...

    def run(
        self, cmd: str, *, timeout: float = 60.0, check: bool = False, input=None
    ) -> Result: ...  # noqa: A002

    def succeed(self, cmd: str, timeout: float = 60.0) -> str: ...

    def put(self, local: Path | str, remote: str, mode: int | None = None) -> None: ...

    def get(self, remote: str, local: Path | str) -> None: ...

    def stream(self, cmd: str, limit: float) -> Streamed: ...

    def alive(self) -> bool: ...

    def usable(self) -> bool: ...

    def dead_reason(self) -> str | None: ...

    def console_tail(self, n: int = 30) -> str: ...

    def request_reset(self, why: str) -> None: ...

    def properties(self) -> list[tuple[str, object]]: ...
