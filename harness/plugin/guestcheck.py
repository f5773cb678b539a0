"""What the harness checks around every test that ran in a guest, whatever kind of test it
is (a scenario through the `agent` fixture, a kselftest program item): the kernel log the
test produced, with its splats, and what it left in the initial namespaces.

The guest agent keeps the guest's clean state (`baseline`, taken when the guest was new)
and the kernel log position the next test starts from (`mark`); one round trip after a
test returns the log since the mark, the state, and the next mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..vm.console import Splat, find_splats
from . import isolation


@dataclass
class AfterTest:
    kernel_log: list[str]
    splats: list[Splat] = field(default_factory=list)
    leaks: isolation.Leaks = field(default_factory=isolation.Leaks)


def begin(agent) -> None:
    """On a new guest, record its clean state and where its kernel log stands."""
    if agent.baseline is None:
        agent.baseline = agent.call("init_state")
        agent.mark = agent.call("kmsg_mark")


def after(agent, splat_ignore: list[str]) -> AfterTest:
    """The kernel log since the test began, its splats (but those whose headline contains
    a *splat_ignore* text), and what the test left behind; the next test starts here."""
    got = agent.call("after_test", seq=agent.mark)  # one round trip for all of it
    agent.mark = got["mark"]
    lines = got["kmsg"]
    splats = [s for s in find_splats(lines) if not any(i in s.headline for i in splat_ignore)]
    return AfterTest(lines, splats, isolation.compare(agent.baseline, got["state"]))
