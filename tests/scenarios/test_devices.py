"""Devices across network namespaces: veth (catalogue item 31), devices that cannot move
(32, v1). Clashes on move and creation are in test_devices_moves.py (33, 34, v3); macvlan, the
spare NIC, device nodes and tun in test_devices_links.py (35-37).

Other netns are held by processes started in them. Whether a device is in a netns is read
three ways: RTM_GETLINK from a socket made (and checked to live) there, the holder's
/proc/<pid>/net/dev, and a sysfs mounted inside that netns. When a test waits for a netns
to die, the netns's death is watched apart from any device (its id's RTM_DELNSID in init),
so a device that did not follow reads as a device bug — "veth did not delete its peer" —
and a netns that never died is said to be that. Version-specific behaviour is asserted per
version (6.1 says X, 6.12 says Y).
"""

import pytest

from harness.scenario.gates import kernel_version, needs_config
from harness.scenario.verdict import Findings

from ._devsock import died, move_extack, needs_drivers, presence, reply

pytestmark = [pytest.mark.vm, pytest.mark.area("devices")]


@pytest.mark.behaviour(31)
def test_deleting_one_veth_end_deletes_its_peer_in_the_other_netns(agent, nsh_kernel, observe):
    """31. veth nsh31a (init) with its peer nsh31b created straight in B. Deleting nsh31a
    removes nsh31b in the same request: right when RTM_DELLINK returns it is gone from B's
    RTM_GETLINK, /proc/<holder>/net/dev and B's own sysfs. (B's RTM_DELLINK and remove@
    uevent for it are recorded, not judged: where events go is item 29's verdict.) Bug:
    veth_dellink not unregistering the peer -> "the peer nsh31b in B right after deleting
    nsh31a is listed in ...; expected absent (veth did not delete its peer ...)"."""
    needs_config(nsh_kernel, "VETH", "veth")
    r = observe("probe", agent.veth_delete_one_end())
    f = Findings()
    presence(
        f,
        r["peer before"],
        True,
        "the veth peer nsh31b in B",
        "a veth peer can be created straight in another netns",
    )
    reply(f, r["delete nsh31a"], None, "RTM_DELLINK nsh31a", "it exists")
    presence(
        f,
        r["peer after"],
        False,
        "the peer nsh31b in B right after deleting nsh31a",
        "veth did not delete its peer: a veth pair dies together",
    )
    f.done()


@pytest.mark.behaviour(31)
def test_a_dying_netns_takes_its_veth_ends_along(agent, nsh_kernel, observe):
    """31. veth nsh31c (init) <-> nsh31d (B); B's only process exits. B's cleanup deletes
    nsh31d, and with it nsh31c: gone from init's RTM_GETLINK (polled), /proc/1/net/dev and
    /sys/class/net (init's RTM_DELLINK and remove@ are recorded). Told apart: B's death (its
    id's RTM_DELNSID), and whether B's cleanup deleted its virtual devices at all — a macvlan
    nsh31m in B on init's dummy nsh31l lets go of it (promiscuity back to 0). Bugs: veth's
    dellink not taking the peer on netns exit -> "nsh31c is still there ..., though B was
    destroyed ... and its macvlan was deleted: veth did not delete its peer ..."; a netns exit
    that deletes no virtual device, or a netns that never dies -> said so instead."""
    needs_config(nsh_kernel, "VETH", "veth")
    needs_drivers(nsh_kernel, "DUMMY", "MACVLAN")
    r = observe("probe", agent.veth_dies_with_netns())
    f = Findings()
    presence(f, r["before"], True, "nsh31c in init", "just created")
    f.check(
        (r["nsh31l promiscuity before"] or 0) >= 1,
        f"init's dummy nsh31l has promiscuity {r['nsh31l promiscuity before']} with macvlan "
        "nsh31m up on it in B; expected >= 1 (the witness of B's virtual devices)",
    )
    let_go = r["nsh31l let go after s"] is not None
    if r["gone after s"] is None and r["B destroyed after s"] is not None and not let_go:
        f.check(
            False,
            "nsh31c (init) is still there 5 s after B — where its peer nsh31d is — was "
            f"destroyed ({r['B destroyed after s']} s, its id's RTM_DELNSID), and B's macvlan "
            "nsh31m survived too (init's nsh31l is still promiscuous): B's cleanup deleted "
            "none of its virtual devices — not a veth fault",
        )
    elif died(
        f,
        r,
        "gone after s",
        "veth did not delete its peer when the peer's netns died (B's macvlan nsh31m was deleted)",
        "nsh31c (init) is still there 5 s after B — where its peer nsh31d is — lost its "
        "last process",
    ):
        presence(f, r["after"], False, "nsh31c in init after B died", "its peer went with B")
    f.done()


@pytest.mark.behaviour(32)
def test_lo_and_a_bridge_cannot_change_netns(agent, nsh_kernel, observe):
    """32. B's lo moved to C, and a bridge moved from init to B: EINVAL (dev->netns_local,
    netns_immutable in 6.12); the extack is per version: none on 6.1, "The interface netns is
    immutable" on 6.12.117. Afterwards lo is still B's ifindex 1 in every view and C still has
    exactly one lo (RTM_GETLINK dump, procfs); the bridge is still in init (three views +
    SIOCGIFINDEX) and not in B. Control: a dummy moves to B (so an always-refusing move is
    red too). B's lo, never init's: a broken kernel would strand init without loopback. Bug:
    the netns_local check dropped -> "moving B's lo to C failed with EEXIST (lo's name is
    taken in C); expected EINVAL", "moving the bridge to B succeeded; expected EINVAL"."""
    needs_drivers(nsh_kernel, "DUMMY")
    needs_config(nsh_kernel, "BRIDGE", "bridges")
    r = observe("probe", agent.netns_immutable_devices())
    why = "lo and bridges are netns-local: they never change netns"
    ext = move_extack(nsh_kernel, "The interface netns is immutable")
    f = Findings()
    reply(f, r["move B's lo to C"], "EINVAL", "moving B's lo to C", why, ext)
    lo = r["lo in B after"]
    presence(f, lo, True, "lo in B after the refused move", why)
    f.expect(lo["ifindex"], 1, what="lo's ifindex in B afterwards", why="lo is always 1")
    f.check(
        r["lo in C: RTM_GETLINK dump"] == 1 and r["lo in C: /proc/net/dev"] == 1,
        f"C lists lo {r['lo in C: RTM_GETLINK dump']} time(s) by RTM_GETLINK and "
        f"{r['lo in C: /proc/net/dev']} by procfs; expected once ({why})",
    )
    reply(f, r["move bridge to B"], "EINVAL", "moving bridge nsh32br from init to B", why, ext)
    br = r["bridge in init after"]
    presence(f, br, True, "the bridge nsh32br in init after the refused move", why)
    f.check(
        isinstance(br["SIOCGIFINDEX"], int),
        f"SIOCGIFINDEX of nsh32br in init gave {br['SIOCGIFINDEX']}; expected its ifindex ({why})",
    )
    presence(f, r["bridge in B after"], False, "nsh32br in B", why)
    reply(
        f,
        r["move dummy to B (control)"],
        None,
        "moving a dummy to B (control)",
        "ordinary devices move",
    )
    presence(f, r["dummy in B after"], True, "the moved dummy nsh32d in B", "it was moved there")
    f.done()


@pytest.mark.behaviour("v1")
def test_ethtool_shows_netns_local_fixed_on_lo_up_to_6_11_and_not_from_6_12(
    agent, nsh_kernel, observe
):
    """v1. lo's "netns-local" feature, read two ways: the SIOCETHTOOL ioctl (GSTRINGS +
    GFEATURES) and ethtool-netlink (ETHTOOL_MSG_FEATURES_GET, what `ethtool -k lo` asks).
    Up to 6.11 (6.1 here): listed, on and fixed for lo; listed, off and fixed for a dummy.
    From 6.12 (05c1280a2bcf moved NETIF_F_NETNS_LOCAL out of the features): listed by
    neither. Lo still cannot move on both (item 32). Bugs: a feature-string table or
    features dump that lost or kept the bit against the version -> "lo's netns-local by
    SIOCETHTOOL gave nothing; expected on, fixed (6.1)"."""
    needs_drivers(nsh_kernel, "DUMMY")
    new = kernel_version(nsh_kernel) >= (6, 12)
    r = observe("probe", agent.ethtool_netns_local())
    f = Findings()
    for dev, on in (("lo", True), ("nshv1d", False)):
        d = r[dev]
        f.check(
            d["ioctl strings"] > 0 and d["netlink active count"] > 0,
            f"{dev}: SIOCETHTOOL lists {d['ioctl strings']} feature strings, "
            f"ethtool-netlink {d['netlink active count']} active features; expected "
            "some (the features are readable)",
        )
        want = None if new else {"active": on, "fixed": True}
        ver = "gone from the features in 6.12" if new else f"{'on' if on else 'off'}, fixed"
        f.expect(d["ioctl netns-local"], want, what=f"{dev}'s netns-local by SIOCETHTOOL", why=ver)
        f.expect(
            (d["netlink active"], d["netlink fixed"]),
            (on and not new, not new),
            what=f"{dev}'s netns-local (active, fixed) by ethtool-netlink",
            why=ver,
        )
    f.done()
