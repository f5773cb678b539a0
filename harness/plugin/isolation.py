"""No test inherits another's leftovers: the initial namespaces' state is recorded when a
guest is ready and compared after every test; what a test left behind fails that test
(as an error naming each leftover) and is undone before the next test — or, if it cannot
be undone, the guest is replaced."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: The parts of init_state() that a test must leave as it found them. (Not the nsid table:
#: a kernel that fails to unhash ids of dead namespaces is the lifetime area's finding, and
#: would otherwise fail every test that used a namespace.)
CHECKED = (
    "links",
    "class_net",
    "addresses",
    "mounts",
    "run_netns",
    "netns",
    "processes",
    "hostname",
    "harness_netns",
    "holders",
)


@dataclass
class Leaks:
    """{part: {"added": [...], "removed": [...]}} for every part that differs."""

    parts: dict[str, dict[str, list]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.parts)

    def describe(self) -> str:
        out = []
        for part, d in self.parts.items():
            bits = []
            if d.get("added"):
                bits.append("left " + ", ".join(map(str, d["added"][:8])))
            if d.get("removed"):
                bits.append("removed " + ", ".join(map(str, d["removed"][:8])))
            out.append(f"{part}: {'; '.join(bits)}")
        return " | ".join(out)


#: The harness's own SSH session (opened on first use of vm.run/put, then kept): dropbear's
#: per-connection process (re-executed with "-2 <fd>") and its SFTP server. Not leftovers.
HARNESS_PROCESSES = re.compile(r"^(/usr/sbin/dropbear .* -2 \d+|/usr/lib/sftp-server)$")


def _ours(part: str, entry) -> bool:
    return part == "processes" and bool(HARNESS_PROCESSES.match(str(entry)))


def compare(baseline: dict, now: dict) -> Leaks:
    leaks = Leaks()
    for part in CHECKED:
        b, n = baseline.get(part), now.get(part)
        if b == n:
            continue
        if isinstance(b, list) and isinstance(n, list):
            added = [x for x in n if x not in b and not _ours(part, x)]
            removed = [x for x in b if x not in n and not _ours(part, x)]
            if added or removed:
                leaks.parts[part] = {"added": added, "removed": removed}
        else:
            leaks.parts[part] = {"added": [n], "removed": [b]}
    return leaks
