"""What `--kselftest nsfs,pidfd,net:rtnetlink.sh` asks for, and the errors a selection can
meet: a spec that does not parse is a usage error (exit 2), a target or program the kernel's
source lacks is an input error (exit 4), a download or build that fails is the environment's
(exit 3). Each is one line."""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

from ..errors import HarnessError, InputError, UsageError


class KselftestError(HarnessError):
    """Fetching the source or building a target failed (said in one line)."""


class SpecError(UsageError):
    """A --kselftest value that does not parse."""


class NotInSource(InputError):
    """The kernel's source has no such target or program, or the kernel has no known source."""


@dataclass(frozen=True)
class TargetSpec:
    """One selftest target and, optionally, the only programs of it to run."""

    target: str  # e.g. "nsfs", "net", "net/forwarding"
    programs: tuple[str, ...] = ()  # empty: every program the target runs
    # programs the user named, still checked when the whole target runs (a typo is an error)
    named: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return ",".join(f"{self.target}:{p}" for p in self.programs) or self.target


_TARGET_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$")
_PROGRAM_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def parse_spec(text: str) -> list[TargetSpec]:
    """`nsfs,pidfd,net:rtnetlink.sh,net:netdevice.sh` -> one TargetSpec per target.

    Naming a target alone selects all its programs, even if it is also named with a program;
    the programs named are still checked against the source.
    """
    order: list[str] = []
    progs: dict[str, list[str] | None] = {}
    named: dict[str, list[str]] = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        target, _, prog = item.partition(":")
        target = target.strip().strip("/")
        if not _TARGET_RE.match(target) or ".." in target.split("/"):
            raise SpecError(f"bad kselftest target '{target}' in '{text}'")
        if prog and not _PROGRAM_RE.match(prog):
            raise SpecError(f"bad kselftest program '{prog}' in '{item}'")
        if target not in progs:
            order.append(target)
            progs[target] = []
            named[target] = []
        if prog and prog not in named[target]:
            named[target].append(prog)
        have = progs[target]
        if not prog:
            progs[target] = None
        elif have is not None and prog not in have:
            have.append(prog)
    if not order:
        raise SpecError(f"no kselftest target in '{text}' (e.g. nsfs,pidfd,net:rtnetlink.sh)")
    return [TargetSpec(t, tuple(progs[t] or ()), tuple(named[t])) for t in order]


def parse_specs(values: list[str]) -> list[TargetSpec]:
    """Several --kselftest values (the option repeats) as one selection."""
    return parse_spec(",".join(str(s) for s in values))


def option_type(text: str) -> str:
    """argparse `type=` for --kselftest: a value that does not parse is a usage error."""
    try:
        parse_spec(text)
    except SpecError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text
