"""Host-side helpers of the sockets and devices scenarios: how a presence seen three ways,
a netlink reply with its extack, and a version-dependent extack are judged and worded."""

from __future__ import annotations

from harness.scenario.gates import kernel_version, needs_config
from harness.scenario.verdict import Findings

VIEWS = {
    "netlink": "RTM_GETLINK",
    "procfs": "/proc/<pid>/net/dev",
    "sysfs": "its sysfs class/net",
}

#: "not asserted on this kernel" (a value observed only, between the versions we know)
UNKNOWN = object()


def needs_drivers(kernel, *options: str) -> None:
    """Skip (decided from the kernel's config) unless every CONFIG_<option> is y or m."""
    for opt in options:
        needs_config(kernel, opt, f"the scene's {opt.lower()} devices")


def views(p: dict) -> str:
    return ", ".join(f"{VIEWS[k]}: {'listed' if p[k] else 'absent'}" for k in VIEWS if k in p)


def presence(f: Findings, p: dict, want: bool, what: str, why: str) -> None:
    """*what* (e.g. "nsh31b in B") must be listed (want) or absent in every view of *p*.
    When the views disagree among themselves, the message says which one is the odd one."""
    seen = {VIEWS[k]: bool(p[k]) for k in VIEWS if k in p}
    bad = [v for v, listed in seen.items() if listed != want]
    if not bad:
        return
    exp = "listed" if want else "absent"
    if len(bad) < len(seen):
        good = [v for v in seen if v not in bad]

        def says(names: list[str], listed: bool) -> str:
            one = len(names) == 1
            verb = (
                ("lists" if one else "list")
                if listed
                else ("does not list" if one else "do not list")
            )
            return f"{' and '.join(names)} {verb} it"

        f.check(
            False,
            f"{what}: the views disagree — {says(good, want)}, {says(bad, not want)}"
            f"; expected {exp} everywhere ({why})",
        )
    else:
        state = "missing from" if want else "listed in"
        f.check(False, f"{what} is {state} {', '.join(bad)}; expected {exp} ({why})")


def reply(f: Findings, r: dict, errno: str | None, call: str, why: str, extack=UNKNOWN) -> bool:
    """A netlink reply {"errno", "extack"}: the errno, then (unless UNKNOWN) the extack text.
    True if the errno was the expected one."""
    if r["errno"] != errno:
        extra = f" (extack: {r['extack']!r})" if r.get("extack") else ""
        f.errno(r["errno"], errno, call=call + extra, why=why)
        return False
    if extack is not UNKNOWN and r.get("extack") != extack:
        f.check(
            False,
            f"{call} failed with {errno} as expected, but its extended ack is "
            f"{r.get('extack')!r}; expected {extack!r} on this kernel",
        )
    return True


def move_extack(kernel, text: str):
    """The extack of a refused netns move (__dev_change_net_namespace): added in 6.15
    ("net: plumb extack in __dev_change_net_namespace()") and present in Debian's 6.12.117
    through stable; 6.1 up to .192 has none. Other versions: not asserted."""
    v = kernel_version(kernel)
    if v >= (6, 15) or (6, 12, 117) <= v < (6, 13):
        return text
    if v <= (6, 1, 192):
        return None
    return UNKNOWN


def which(refs: dict, key: str, value) -> str:
    """Name the reference netns (init, B, C) whose *key* (cookie/inode) is *value*."""
    hits = [k for k, r in refs.items() if r[key] == value]
    return "/".join(hits) if hits else "none of init, B, C"


def died(f: Findings, r: dict, waited: str, device_failed: str, what: str) -> bool:
    """After B's only process exited: if *waited* (a "... after s" key) is None, say whether
    the device failed (B was destroyed: *device_failed*) or B never died. True if it came."""
    if r[waited] is not None:
        return True
    if r["B destroyed after s"] is not None:
        f.check(
            False,
            f"{what}, though B was destroyed {r['B destroyed after s']} s after "
            f"its last process exited (its id's RTM_DELNSID): {device_failed}",
        )
    elif r.get("B's id in init") is None:
        f.check(
            False,
            f"{what}; whether B itself was destroyed could not be watched (no netns id "
            f"could be given to B in init: see item 29). Either {device_failed}, or B never "
            "died",
        )
    else:
        f.check(
            False,
            f"{what}, and B itself was not destroyed (its id is still listed, no "
            "RTM_DELNSID): the netns never died, so nothing could follow it — netns "
            "destruction is broken (judged by the lifetime tests), not the device",
        )
    return False
