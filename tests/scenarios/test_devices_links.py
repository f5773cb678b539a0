"""Devices across network namespaces, part 2: a macvlan away from its lower device (item 35),
the spare virtio NIC moved into a netns and back (36), device nodes and tun (37).

As in test_devices.py: other netns are held by processes started in them, presence is read
three ways, and a netns's death is watched apart from any device (its id's RTM_DELNSID),
so a device that did not follow reads as a device bug and a netns that never died is said
to be that.
"""

import pytest

from harness.scenario.gates import kernel_version, needs_config
from harness.scenario.verdict import Findings

from ._devsock import died, needs_drivers, presence, reply

pytestmark = [pytest.mark.vm, pytest.mark.area("devices")]


@pytest.mark.behaviour(35)
def test_macvlan_in_another_netns_shows_link_netnsid_and_dies_with_its_lower_or_its_netns(
    agent, nsh_kernel, observe
):
    """35. Macvlan nsh35m created straight in B on init's dummy nsh35l: in B it is kind
    macvlan, IFLA_LINK = the lower's (init) ifindex, IFLA_LINK_NETNSID = B's id for init (an
    RTM_GETNSID reply: another message); not in init. Deleting nsh35l removes nsh35m from B
    (three views). Macvlan nsh35q (up, in B) on nsh35p: the lower is promiscuous (its uc
    list holds the macvlan's MAC) and its rx_handler is taken (bridge enslave EBUSY); when
    B's only process exits, the macvlan goes — seen from init only: promiscuity back to 0,
    "left promiscuous mode" in the kernel log, enslave succeeds — with B's death watched
    apart (RTM_DELNSID). Bugs: macvlan ignoring NETDEV_UNREGISTER of its lower -> "nsh35m in
    B ... is still listed ... (a macvlan goes with its lower)"; virtual devices of a dying
    netns left alone -> "nsh35p is still promiscuous ..., though B was destroyed ...: the
    macvlan survived its netns"."""
    needs_drivers(nsh_kernel, "DUMMY")
    for opt in ("MACVLAN", "BRIDGE"):
        needs_config(nsh_kernel, opt, "macvlan and its bridge-enslave oracle")
    r = observe("probe", agent.macvlan_lower_in_other_netns())
    f = Findings()
    m, nsid = r["nsh35m in B (RTM_GETLINK)"] or {}, r["B's id for init (GETNSID)"]
    f.check(
        m.get("kind") == "macvlan" and m.get("link") == r["lower ifindex"],
        f"nsh35m in B reports kind {m.get('kind')}, IFLA_LINK {m.get('link')}; expected "
        f"macvlan on the lower's ifindex {r['lower ifindex']} (init's numbering)",
    )
    f.check(
        nsid is not None and nsid >= 0 and m.get("link_netnsid") == nsid,
        f"nsh35m's IFLA_LINK_NETNSID is {m.get('link_netnsid')}, B's id for init "
        f"(RTM_GETNSID in B) is {nsid}; expected equal (its lower lives in init)",
    )
    presence(f, r["nsh35m in B"], True, "nsh35m in B", "it was created there")
    presence(f, r["nsh35m in init"], False, "nsh35m in init", "it was created in B")
    reply(f, r["delete lower"], None, "deleting the lower nsh35l in init", "it exists")
    presence(
        f,
        r["nsh35m in B after the lower was deleted"],
        False,
        "nsh35m in B after its lower nsh35l was deleted",
        "a macvlan goes with its lower",
    )
    f.check(
        r["promiscuity with the macvlan up"] >= 1 and r["enslave before"]["errno"] == "EBUSY",
        f"with macvlan nsh35q up in B, its lower nsh35p has promiscuity "
        f"{r['promiscuity with the macvlan up']} and enslaving it to a bridge gave "
        f"{r['enslave before']['errno'] or 'success'}; expected >= 1 and EBUSY (the "
        "macvlan holds the lower's unicast list and rx_handler)",
    )
    survived = "the macvlan survived its netns (a dying netns deletes its virtual devices)"
    if died(
        f,
        r,
        "promiscuity 0 after s",
        survived,
        f"nsh35p is still promiscuous ({r['promiscuity after']}) 5 s after B — holding "
        "macvlan nsh35q — lost its last process",
    ):
        f.check(
            any("left promiscuous mode" in ln for ln in r["kernel log"]),
            f"the kernel log after B died has {r['kernel log']}; expected 'nsh35p ... "
            "left promiscuous mode' (the macvlan let go of its lower)",
        )
        reply(
            f,
            r["enslave after"],
            None,
            "enslaving nsh35p to a bridge after B died",
            "the macvlan is gone: its rx_handler is free",
        )
    f.done()


def returned(f: Findings, r: dict, name: str, nic: str) -> None:
    """The NIC came back to init as *name* (netlink and sysfs): DOWN, same ifindex (netlink
    and sysfs), same PCI/virtio device. (Init's RTM_NEWLINK is recorded, not judged: where
    events go is item 29's verdict.)"""
    ret, before = r["returned"], r["before"]
    f.expect(
        ret["name"],
        name,
        what=f"the name {nic} came back to init with (found by MAC)",
        why=f"{'its own name is free' if name == nic else 'its name is taken in init'}",
    )
    f.check(
        ret["ifindex"] == ret["sysfs ifindex"] == before["ifindex"]
        and not ret["up"]
        and ret["device"] == before["device"],
        f"{nic} came back with ifindex {ret['ifindex']} (netlink) / {ret['sysfs ifindex']}"
        f" (sysfs), up {ret['up']}, device {ret['device']}; expected ifindex "
        f"{before['ifindex']} (free in init), DOWN (closed on move), device "
        f"{before['device']}",
    )


def needs_spare_nic(vm) -> None:
    if not vm.qemu.cfg.spare_nic:
        pytest.skip("this machine has no spare NIC (QemuConfig.spare_nic)")


@pytest.mark.behaviour(36)
def test_a_nic_moved_into_a_netns_carries_traffic_there_and_returns_to_init_when_it_dies(
    agent, nsh_kernel, vm, observe
):
    """36. The spare virtio NIC eth1 (DOWN in init) moved into B: listed in B three ways,
    gone from init three ways (never SIOCGIFINDEX on a missing name), DOWN. In B with
    10.0.2.15/24 and up it carries real traffic: QEMU's slirp gateway 10.0.2.2 — outside
    the guest kernel — answers an ICMP echo from a raw socket made in B, and B's
    /proc/<holder>/net/arp holds slirp's MAC 52:55:0a:00:02:02. When B's only process exits
    the NIC comes back to init (a physical device is returned, not deleted): found by MAC in
    init's netlink dump and sysfs, as eth1, DOWN, same ifindex and device; B's
    death is watched apart; a dummy that was in B does not come to init (virtual devices are
    deleted). Restored afterwards: eth1, DOWN, no altnames. Bugs:
    default_device_exit_net skipping it -> "eth1 did not come back 15 s after B ... was
    destroyed: a physical device goes back to init"."""
    needs_drivers(nsh_kernel, "DUMMY")
    needs_spare_nic(vm)
    r = observe("probe", agent.nic_moved_and_returned())
    f = Findings()
    reply(f, r["move"], None, "moving eth1 into B", "a physical NIC can change netns")
    if r["move"]["errno"] is None:
        presence(f, r["in B"], True, "eth1 in B", "moved there")
        presence(f, r["in init"], False, "eth1 in init", "it left for B")
        f.check(
            not r["in B"]["up"] and r["in B"]["sysfs address"] == r["mac"],
            f"eth1 in B: up {r['in B']['up']}, MAC {r['in B']['sysfs address']}; "
            f"expected DOWN (a move closes the device) and {r['mac']}",
        )
        f.check(
            r["carrier after s"] is not None and r["echo"].get("reply from") == "10.0.2.2",
            f"through eth1 in B: carrier after {r['carrier after s']} s, ICMP echo to "
            f"10.0.2.2 gave {r['echo']}; expected a reply from QEMU's gateway (the NIC "
            "works in its new netns)",
        )
        f.expect(
            r["arp entry for gw in B"],
            "52:55:0a:00:02:02",
            what="B's ARP entry for 10.0.2.2 (/proc/<holder>/net/arp)",
            why="slirp answered on the wire",
        )
        if died(
            f,
            r,
            "back after s",
            "a physical device goes back to init when its netns dies (default_device_exit_net)",
            "eth1 did not come back to init 15 s after B's last process exited",
        ):
            returned(f, r, "eth1", "eth1")
            presence(
                f,
                r["dummy nsh36v in init"],
                False,
                "the dummy nsh36v that was in B, in init",
                "a dying netns deletes its virtual devices; only physical ones go back to init",
            )
    f.done()


def cve_2024_26634_fixed(kernel) -> bool:
    """default_device_exit_net BUG()s on a conflicting altname before the fix (mainline 6.8);
    6.1.192 has the stable backport (observed: the altname is dropped). Kernels in between
    are not known to have it."""
    v = kernel_version(kernel)
    return v >= (6, 8) or (6, 1, 192) <= v < (6, 2)


@pytest.mark.behaviour(36)
def test_a_nic_returning_to_init_where_its_name_is_taken_is_renamed_dev_ifindex(
    agent, vm, nsh_kernel, observe
):
    """36. eth1 in B with altnames nshalt36 and nshkeep36; init meanwhile has a dummy named
    eth1 and a dummy with altname nshalt36. When B dies the NIC still comes back, renamed
    dev<ifindex> (default_device_exit_net's fallback; "dev%d" only if that is taken too), the
    clashing altname dropped and the other kept — the CVE-2024-26634 path, which BUG()s on
    unfixed kernels (skipped there by version). Restored afterwards: eth1, DOWN, no altnames.
    Bug: the fallback name not used -> the kernel BUG()s ("failed to move ... to init_net"):
    the guest dies and the harness reports it with the console."""
    needs_drivers(nsh_kernel, "DUMMY")
    needs_spare_nic(vm)
    if not cve_2024_26634_fixed(nsh_kernel):
        pytest.skip(
            f"kernel {nsh_kernel.release} is not known to have the CVE-2024-26634 fix: an altname "
            "clash on return would BUG() the guest"
        )
    r = observe("probe", agent.nic_moved_and_returned(clash=True))
    f = Findings()
    reply(f, r["move"], None, "moving eth1 into B", "a physical NIC can change netns")
    if r["move"]["errno"] is None and died(
        f,
        r,
        "back after s",
        "a physical device goes back to init when its netns dies, renamed if its name is taken",
        "eth1 did not come back to init 15 s after B's last process exited",
    ):
        name = f"dev{r['before']['ifindex']}"
        returned(f, r, name, "eth1")
        f.expect(
            r["returned"]["altnames"],
            ["nshkeep36"],
            what="the returned NIC's altnames",
            why="the one taken in init (nshalt36) is dropped, the other kept",
        )
    f.done()


@pytest.mark.behaviour(37)
def test_device_nodes_are_not_namespaced_a_node_bind_mounted_into_a_container_is_the_same(
    agent, observe
):
    """37. A "container" (own mount and net namespaces) bind-mounts /dev/zero onto /mnt/zero
    of a tmpfs only it has. Inside, and from outside through /proc/<pid>/root, the node is
    init's /dev/zero: same rdev 1:5, same (st_dev, st_ino), reads zeros; the container's
    mountinfo shows the devtmpfs bind; at /mnt/zero outside there is nothing (ENOENT: the
    mount is the container's). /dev/net/tun is the same node from the container's netns and
    mount ns. Devices have no namespace: only the mount table decides who reaches a node.
    Bug: a bind that leaked out of its mount namespace -> "/mnt/zero outside the container
    gave ...; expected ENOENT"."""
    r = observe("probe", agent.dev_node_in_container())
    f = Findings()
    zero, tun = r["init /dev/zero"], r["init /dev/net/tun"]
    for view in ("inside", "through /proc/<pid>/root"):
        node = r["inside"]["/mnt/zero"] if view == "inside" else r[view]
        f.expect(
            node,
            zero,
            what=f"/mnt/zero seen {view} the container (rdev, identity, data)",
            why="a bind-mounted device node is the very node: devices are not namespaced",
        )
    f.expect(
        r["container mountinfo /mnt/zero fstype"],
        ["devtmpfs"],
        what="the container's mountinfo for /mnt/zero",
        why="a bind of a devtmpfs node",
    )
    f.expect(
        r["outside /mnt/zero"],
        {"errno": 2},
        what="/mnt/zero outside the container",
        why="the tmpfs and the bind live in the container's mount namespace only",
    )
    f.expect(
        r["inside"]["/dev/net/tun"],
        tun,
        what="/dev/net/tun from inside the container",
        why="one node for every netns and mount ns",
    )
    f.check(
        r["container netns"] != r["init netns"],
        "the container's netns is init's: the holder did not unshare (setup)",
    )
    f.done()


@pytest.mark.behaviour(37)
def test_tun_device_is_created_in_the_netns_of_the_process_that_opened_dev_net_tun(
    agent, nsh_kernel, observe
):
    """37. (a) /dev/net/tun opened and TUNSETIFF'd by a process in B (fd passed to init):
    the tap is in B, not init; (b) opened in init, TUNSETIFF'd by a child that joined B: in
    init, not B; (c) opened in init, TUNSETIFF'd after setns(B): in init. The netns is fixed
    at open() (tun_chr_open takes current's netns); SIOCGSKNS on each fd names it (B for a,
    init for b, c). Three views each side. Bug: tun_set_iff using current->nsproxy instead
    of the file's netns -> "nsh37b (opened in init, TUNSETIFF in B) in B is ...; expected
    absent (a tun device is born in its opener's netns)"."""
    needs_config(nsh_kernel, "TUN", "tun/tap")
    r = observe("probe", agent.tun_created_in_openers_netns())
    f = Findings()
    why = "a tun device is born in the netns of the process that opened /dev/net/tun"
    for name, how, home in (
        ("nsh37a", "opened and TUNSETIFF in B", "B"),
        ("nsh37b", "opened in init, TUNSETIFF by a child in B", "init"),
        ("nsh37c", "opened in init, TUNSETIFF after setns(B)", "init"),
    ):
        d = r[name]
        presence(f, d["in B"], home == "B", f"{name} ({how}) in B", why)
        presence(f, d["in init"], home == "init", f"{name} ({how}) in init", why)
        f.expect(
            d["fd's SIOCGSKNS"],
            r[home],
            what=f"SIOCGSKNS on {name}'s fd ({how})",
            why=f"the tun file's socket is in its opener's netns, {home}",
        )
        f.expect(d["TUNGETIFF"], name, what=f"TUNGETIFF on {name}'s fd", why="it is attached")
    f.done()
