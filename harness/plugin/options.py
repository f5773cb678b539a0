"""The harness's options, defined once: the pytest plugin and `nsharness run` both read
this table, so the two can never drift apart again (names, defaults, choices, checks).

`nsharness run` takes the short names (`--kernel`). Under pytest every option is prefixed
(`--nsh-kernel`): an installed plugin adds its options to every pytest run of that
environment, and bare names like `--kernel` or `--report` would collide with other
plugins' or a project's own. The bare names stay accepted by pytest as deprecated aliases."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from ..vm.accel import ACCELS
from ..vm.machineopts import DEFAULT_BOOT_TIMEOUT, DEFAULT_MEMORY_MB


def _bounded(kind, lo, hi, what: str):
    def check(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be between {lo} and {hi}, not {v}")
        return v

    check.__name__ = what  # argparse names the type in its messages
    return check


def _kselftest_spec(text: str) -> str:
    from ..kselftest.spec import option_type

    return option_type(text)


_kselftest_spec.__name__ = "--kselftest"


@dataclass(frozen=True)
class Opt:
    flag: str
    help: str
    default: Any = None
    type: Any = None
    action: str | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def pytest_flag(self) -> str:
        return "--nsh-" + self.flag.lstrip("-")

    def kwargs(self) -> dict:
        kw: dict[str, Any] = {"help": self.help, "dest": self.dest}
        if self.action:
            kw["action"] = self.action
        if self.action == "append":
            kw["default"] = []
        elif self.action != "store_true":
            kw["default"] = self.default
        for k in ("type", "choices", "metavar"):
            if getattr(self, k) is not None:
                kw[k] = getattr(self, k)
        return {**kw, **self.extra}


OPTIONS: tuple[Opt, ...] = (
    Opt(
        "--kernel",
        "kernel to test: a bzImage path, a kernel build or package tree, debian:6.1, "
        "debian:6.12, an exact Debian version (repeatable; default debian:6.12)",
        action="append",
        metavar="SPEC",
    ),
    Opt(
        "--kernel-src",
        "build this kernel source tree (tinyconfig + our fragment) and test it (repeatable)",
        action="append",
        metavar="DIR",
    ),
    Opt("--modules", "modules tree for a --kernel path (its lib/modules/RELEASE)", metavar="DIR"),
    Opt(
        "--accel",
        "QEMU accelerator (auto: KVM only if a probe guest runs under it)",
        default="auto",
        choices=ACCELS,
    ),
    Opt(
        "--vm-memory",
        "guest memory in MB",
        default=DEFAULT_MEMORY_MB,
        type=_bounded(int, 128, 65536, "--vm-memory"),
        metavar="MB",
    ),
    Opt("--vm-smp", "guest CPUs", default=1, type=_bounded(int, 1, 64, "--vm-smp"), metavar="N"),
    Opt(
        "--boot-timeout",
        "seconds from QEMU launch to a working guest",
        default=DEFAULT_BOOT_TIMEOUT,
        type=_bounded(float, 1, 3600, "--boot-timeout"),
        metavar="S",
    ),
    Opt("--image", "guest image recipe", default="bookworm", metavar="RECIPE"),
    Opt(
        "--no-snapshot",
        "always boot cold: never restore (or save) a ready guest from a snapshot",
        action="store_true",
    ),
    Opt("--report", "write the JSON run report here (HTML beside it)", metavar="PATH"),
    Opt("--keep-console", "keep every boot's serial console log in DIR", metavar="DIR"),
    Opt(
        "--kselftest",
        "also build the kernel's own selftests (tools/testing/selftests) from each kernel's "
        "source and run them: targets and programs, e.g. nsfs,pidfd,net:rtnetlink.sh "
        "(repeatable); each program is a test, each KTAP subtest a report record",
        action="append",
        type=_kselftest_spec,
        metavar="SPEC",
    ),
    Opt(
        "--kselftest-timeout-scale",
        "multiply each selftest's timeout (its target's settings, 45 s by default): "
        "under TCG some programs need 8x",
        default=1.0,
        type=_bounded(float, 0.1, 100, "--kselftest-timeout-scale"),
        metavar="F",
    ),
    Opt(
        "--known-findings",
        "a file of kernel finding ids (one per line) that do not fail the run: the tests "
        "stay reported as kernel findings (data/kernel-findings.toml says what each is)",
        metavar="FILE",
    ),
    Opt(
        "--splat-ignore",
        "kernel splats whose headline contains TEXT do not fail tests (repeatable)",
        action="append",
        metavar="TEXT",
    ),
)


def add_to_pytest(parser) -> None:
    group = parser.getgroup("nsharness", "nsharness: real kernels under QEMU")
    for o in OPTIONS:
        group.addoption(o.pytest_flag, o.flag, **o.kwargs())


def deprecated_flags(args: list[str]) -> list[str]:
    """The bare (unprefixed) option names a pytest command line used, in order."""
    bare = {o.flag: o.pytest_flag for o in OPTIONS}
    seen: list[str] = []
    for a in args:
        name = a.split("=", 1)[0]
        if name in bare and name not in seen:
            seen.append(name)
    return seen


def add_to_argparse(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    for o in OPTIONS:
        if only is None or o.flag in only:
            parser.add_argument(o.flag, **o.kwargs())


def to_pytest_args(ns: argparse.Namespace) -> list[str]:
    """The pytest command-line flags that reproduce the shared options parsed by argparse."""
    out: list[str] = []
    for o in OPTIONS:
        v = getattr(ns, o.dest, None)
        if o.action == "append":
            for item in v or []:
                out += [o.pytest_flag, str(item)]
        elif o.action == "store_true":
            out += [o.pytest_flag] if v else []
        elif v is not None and v != o.default:
            out += [o.pytest_flag, str(v)]
    return out
