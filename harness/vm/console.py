"""Reading what the kernel said: the serial console log and kernel log slices.

Splat detection lives here because boot (a panic on the console) and every test (a
WARNING in its slice of the kernel log) ask the same question of the same text.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

_TS = re.compile(r"^\s*(?:<\d+>)?\[\s*\d+\.\d+\]\s?")

#: (kind, pattern) in priority order: the first match names the splat.
SPLAT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (k, re.compile(p))
    for k, p in (
        ("panic", r"Kernel panic - not syncing"),
        ("kasan", r"BUG: KASAN:"),
        ("ubsan", r"UBSAN:"),
        ("bug", r"kernel BUG at|BUG: "),
        ("oops", r"Oops: |general protection fault"),
        ("warning", r"WARNING: (?:CPU: \d+ PID: \d+ at|at )"),
        ("rcu-stall", r"rcu: INFO: \w+ (?:self-)?detected stall|rcu_\w+ detected stalls"),
        ("hung-task", r"INFO: task \S+ blocked for more than"),
        ("netdev-refcount", r"unregister_netdevice: waiting for \S+ to become free"),
        ("ref-tracker", r"ref_tracker: "),
        ("lockdep", r"WARNING: possible (?:circular|recursive) locking"),
    )
)
_FRAME = re.compile(r"^\s*(?:\? )?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+")
_RIP = re.compile(r"RIP: \d+:([A-Za-z_][\w.]*)\+0x")
FATAL = ("panic", "oops", "bug", "kasan")
_END = re.compile(r"---\[ end trace|^\s*$")


def strip_ts(line: str) -> str:
    return _TS.sub("", line)


@dataclass(frozen=True)
class Splat:
    """One kernel complaint: what kind, its headline, where it happened, a stable id."""

    kind: str
    headline: str
    frames: tuple[str, ...]
    fingerprint: str
    lines: tuple[str, ...] = field(repr=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["frames"] = list(self.frames)
        d["lines"] = list(self.lines)
        return d


def classify(line: str) -> str | None:
    text = strip_ts(line)
    for kind, rx in SPLAT_PATTERNS:
        if rx.search(text):
            return kind
    return None


def find_splats(lines: list[str], max_body: int = 60) -> list[Splat]:
    """Find splats in kernel log lines, each with its call trace's top frames."""
    splats: list[Splat] = []
    i = 0
    while i < len(lines):
        kind = classify(lines[i])
        if kind is None:
            i += 1
            continue
        first = strip_ts(lines[i]).rstrip()
        body = [first]
        # WARN() prints "[ cut here ]" and its message before the WARNING line: keep them.
        for back in (1, 2, 3):
            if i - back >= 0 and "[ cut here ]" in lines[i - back]:
                body = [strip_ts(x).rstrip() for x in lines[i - back : i]] + body
                break
        frames: list[str] = []
        rip = None
        j = i + 1
        while j < len(lines) and j - i < max_body:
            text = strip_ts(lines[j]).rstrip()
            if classify(lines[j]) and not text.startswith("WARNING"):
                break  # the next splat starts
            body.append(text)
            m = _RIP.search(text)
            if m and rip is None:
                rip = m.group(1)
            m = _FRAME.match(text)
            if m and not text.lstrip().startswith("?"):
                frames.append(m.group(1))
            j += 1
            if _END.search(text) and len(body) > 1:
                break
        top = tuple(([rip] if rip else []) + [f for f in frames if f != rip])[:4]
        headline = re.sub(r"\b(?:PID|CPU): \d+", "", first).strip()
        basis = kind + "|" + "|".join(top or (re.sub(r"\d+", "N", headline),))
        fp = hashlib.sha1(basis.encode()).hexdigest()[:12]
        splats.append(Splat(kind, first, top, fp, tuple(body)))
        i = j
    return splats


class ConsoleLog:
    """The serial console of one VM, as a file QEMU appends to.

    Read incrementally (each poll reads only what is new) and kept bounded in memory: the
    first HEAD lines (the boot) and the last TAIL lines, plus the lines from the first
    fatal splat on, which is what a report needs. A guest flooding its console costs a
    bounded amount of memory and no re-reading.
    """

    HEAD, TAIL, FATAL_KEEP = 2000, 4000, 400

    def __init__(self, path: Path):
        self.path = path
        self._pos = 0
        self._partial = ""
        self._head: list[str] = []
        self._tail: deque[str] = deque(maxlen=self.TAIL)
        self._fatal: list[str] = []
        self._crash: str | None = None
        self._dropped = 0

    def _poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                chunk = f.read(4 << 20)
                self._pos = f.tell()
        except OSError:
            return
        if not chunk:
            return
        text = self._partial + chunk.decode(errors="replace").replace("\r", "")
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._add(line)

    def _add(self, line: str) -> None:
        if len(self._head) < self.HEAD:
            self._head.append(line)
        else:
            if len(self._tail) == self._tail.maxlen:
                self._dropped += 1
            self._tail.append(line)
        if self._fatal and len(self._fatal) < self.FATAL_KEEP:
            self._fatal.append(line)
        elif not self._fatal and classify(line) in FATAL:
            self._fatal = [line]

    def seen(self, needle: str) -> bool:
        """Has the console printed *needle* (a plain substring) by now?"""
        self._poll()
        return any(needle in ln for ln in self._head) or any(needle in ln for ln in self._tail)

    def lines(self) -> list[str]:
        self._poll()
        gap = [f"[... {self._dropped} console lines dropped ...]"] if self._dropped else []
        rest = [self._partial] if self._partial else []
        return self._head + gap + list(self._tail) + rest

    def text(self) -> str:
        return "\n".join(self.lines())

    def tail(self, n: int = 25) -> str:
        return "\n".join(self.lines()[-n:])

    def evidence(self, n: int = 40, limit: int = 100) -> str:
        """What a report should show: from a fatal splat's first line on (a panic's header
        can sit more than *n* lines above the end, behind its trace), else the last *n*."""
        lines = self.lines()
        if not self._fatal:
            return "\n".join(lines[-n:])
        seg = self._fatal
        if len(seg) > limit:
            seg = seg[: limit - 15] + ["[...]"] + seg[-15:]
        return "\n".join(seg)

    def crash(self) -> str | None:
        """The headline of a fatal splat on the console, if any (panic or oops)."""
        self._poll()
        if self._crash is None and self._fatal:
            found = [s for s in find_splats(self._fatal) if s.kind in FATAL]
            self._crash = found[0].headline if found else None
        return self._crash
