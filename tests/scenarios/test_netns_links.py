"""Network namespaces as sockets and links show them since 6.12 (catalogue items 53-57);
area "netns-links".

Each answer is checked against another interface: a socket's cookie against NS_GET_ID of
its netns file, of its SIOCGSKNS fd and the netns file's handle; IFLA_NETNS_IMMUTABLE
against what moving the device does; where a device is against RTM_GETLINK from a socket
made in that netns, /proc/<pid>/net/dev and a sysfs mounted there; link events against a
listener made in the netns concerned. Older kernels are asserted per version.
"""

import pytest

from harness.scenario import Boundary, Findings, NotJudged

from ._nsids import ids_agree

pytestmark = [pytest.mark.vm, pytest.mark.area("netns-links")]

COOKIE_IS_ID = Boundary("SO_NETNS_COOKIE = the netns id", (6, 18))  # setup_net: ns_tree_gen_id
IMMUTABLE_ATTR = Boundary("IFLA_NETNS_IMMUTABLE", (6, 15))  # N. Dichtel
TARGET_LOOKUP = Boundary("RTM_NEWLINK looking names up in the target netns", (6, 15))
DIRECT_CREATE = Boundary("devices with a link netns created in their target directly", (6, 15))
EXTACK = Boundary('the extack "The interface netns is immutable"', (6, 12), verified=True)


@pytest.mark.behaviour(53, 70)
def test_so_netns_cookie_is_the_netns_id(agent, nsh_kernel, observe):
    """53, 70. A UDP and a UNIX socket in init's netns and in two new ones: from 6.18
    (boundary from source, unverified) SO_NETNS_COOKIE is the netns id — NS_GET_ID of the
    netns file, of the socket's SIOCGSKNS fd, the netns handle's ns_id (init's: 7 from
    6.19); before, a counter of its own (init's cookie 1; handed out in per-CPU batches, so
    not necessarily in creation order) and no NS_GET_ID (ENOTTY). Every socket of one netns
    has the same cookie on every series. Bug: net_cookie taken from another counter again ->
    "SO_NETNS_COOKIE of a socket in new 1's netns gave 3; expected 45 (... NS_GET_ID)"."""
    r = observe("cookies", agent.netns_cookie_ids())
    f = Findings()
    nets = {k: r[k] for k in ("init", "new 1", "new 2")}
    for name, x in nets.items():
        f.expect(
            x["cookie UNIX"],
            x["cookie UDP"],
            what=f"SO_NETNS_COOKIE of a UNIX socket in {name}'s netns",
            why="a UDP socket's there: one cookie per netns",
        )
    cookies = [x["cookie UDP"] for x in nets.values()]
    f.check(
        all(isinstance(c, int) for c in cookies) and len(set(cookies)) == 3,
        f"SO_NETNS_COOKIE of init's and two new netns gave {cookies}; expected three "
        "different numbers",
    )
    if not COOKIE_IS_ID.has(nsh_kernel):
        f.expect(
            nets["init"]["cookie UDP"],
            1,
            what="SO_NETNS_COOKIE in init's netns",
            why=f"before {COOKIE_IS_ID.note()}: init_net's cookie is the first",
        )
        for name, x in nets.items():
            f.expect(
                x["NS_GET_ID"],
                "ENOTTY",
                what=f"NS_GET_ID on {name}'s netns file",
                why=f"new in 6.18; kernel {nsh_kernel.release}",
            )
        return f.done()
    ids_agree(f, {n: [x["NS_GET_ID"], x["handle ns_id"]] for n, x in nets.items()}, "on the netns")
    misplaced = {n: x["SIOCGSKNS fd NS_GET_ID"] for n, x in nets.items()
                 if x["SIOCGSKNS fd NS_GET_ID"] != x["NS_GET_ID"]}  # fmt: skip
    if misplaced:
        f.done()
        raise NotJudged(f"sockets whose SIOCGSKNS fd is another netns than the one they were "
                        f"made in: {misplaced}", blocked_by=[25])  # fmt: skip
    for name, x in nets.items():
        f.expect(
            x["cookie UDP"],
            x["NS_GET_ID"],
            what=f"SO_NETNS_COOKIE of a socket in {name}'s netns",
            why=f"{COOKIE_IS_ID.note()}: the cookie is the id (NS_GET_ID and the nsfs handle "
            "agree on it)",
        )
    f.done()


@pytest.mark.behaviour(54, 71)
def test_ifla_netns_immutable_says_which_devices_cannot_move(agent, nsh_kernel, observe):
    """54, 71. RTM_GETLINK's IFLA_NETNS_IMMUTABLE (attr 67, 6.15+, boundary from source,
    unverified): lo 1, a bridge 1 (the catalogue listed lo, vrf, team, bonding: bridges too),
    a dummy and a veth 0; sending it in RTM_NEWLINK or RTM_SETLINK is EINVAL ("Attribute
    failed policy validation"). The witness is what moving each to netns B does (item 32's
    behaviour, judged there): where the moves do not show lo and the bridge refused and the
    others moved, the attribute is not judged. A refused move says "The interface netns is
    immutable" from 6.12 (the netns_immutable rename; none on 6.1: item 71). Before 6.15 the
    attribute is absent and sending it is ignored (0). Bug: the flag not exported -> "IFLA_
    NETNS_IMMUTABLE of lo, bridge, dummy, veth gave {'lo': 0, ...}; expected {'lo': 1, ...}"."""
    r = observe("immutable", agent.netns_immutable_attr())
    f = Findings()
    immutable = {"lo": 1, "bridge": 1, "dummy": 0, "veth": 0}
    text = "The interface netns is immutable" if EXTACK.has(nsh_kernel) else None
    moved = {}
    for dev, m in r["moves"].items():
        before, after = m["init's ifindex before, after"]
        moved[dev] = after != before
        if m["errno"] == "EINVAL":
            f.expect(m["extack"], text, what=f"the extack of moving {dev} to netns B (refused)",
                     why="the message of the netns_immutable check (6.12: renamed)")  # fmt: skip
    if not IMMUTABLE_ATTR.has(nsh_kernel):
        f.expect(
            r["attr"],
            dict.fromkeys(immutable, "absent"),
            what="IFLA_NETNS_IMMUTABLE in RTM_GETLINK",
            why=f"{IMMUTABLE_ATTR.note()}; kernel {nsh_kernel.release}",
        )
        for name, x in r["sent to the dummy"].items():
            f.expect(x["errno"], None, what=name, why="attributes above IFLA_MAX are ignored")
        return f.done()
    for name, x in r["sent to the dummy"].items():
        f.expect(
            [x["errno"], x["extack"]],
            ["EINVAL", "Attribute failed policy validation"],
            what=name,
            why="the attribute is read-only (NLA_REJECT)",
        )
    f.expect(r["dummy's attr after"], 0, what="the dummy's IFLA_NETNS_IMMUTABLE after those "
             "requests", why="nothing sets it from user space")  # fmt: skip
    if moved != {k: not v for k, v in immutable.items()}:
        f.done()
        raise NotJudged(f"moving lo, bridge, dummy, veth to another netns moved {moved}: "
                        "the moves cannot witness the attribute", blocked_by=[32])  # fmt: skip
    f.expect(
        r["attr"],
        immutable,
        what="IFLA_NETNS_IMMUTABLE of lo, bridge, dummy, veth",
        why=f"{IMMUTABLE_ATTR.note()}; as their moves show (refused: 1)",
    )
    f.done()


@pytest.mark.behaviour(55, 71)
def test_creating_in_another_netns_looks_the_name_and_ifindex_up_there(agent, nsh_kernel, observe):
    """55, 71. RTM_NEWLINK (CREATE|EXCL, IFLA_NET_NS_FD = B) from init: from 6.15 (boundary
    from source, unverified) a name only init has, an ifindex only init uses, and the name and
    ifindex of one init device all create in B (with that ifindex); a name B has is EEXIST.
    Before 6.15 the first three are EEXIST (looked up in the caller's netns) and B gets
    nothing; the last works, B having none yet. Init's devices keep their ifindex. Where a
    device is: B's RTM_GETLINK, /proc/<pid>/net/dev, B's sysfs. Bug: the lookup back in
    the caller's netns -> "RTM_NEWLINK nshi55a into B (name only in init) failed with
    EEXIST; expected success (...)"."""
    r = observe("add", agent.add_into_other_netns())
    f = Findings()
    new = TARGET_LOOKUP.has(nsh_kernel)
    idx = r["init ifindex"]
    cases = {
        "name only in init": None,
        "ifindex only in init": idx["nshi55i"],
        "name and ifindex of one init device": idx["nshi55j"],
    }
    why = TARGET_LOOKUP.note() + ("" if new else f"; kernel {nsh_kernel.release}")
    for case, want_idx in cases.items():
        x = r[case]
        f.errno(
            x["reply"]["errno"],
            None if new else "EEXIST",
            call=f"RTM_NEWLINK into B ({case})",
            why=why,
        )
        where = dict.fromkeys(("netlink", "procfs", "sysfs"), new)
        f.expect(
            x["B"],
            where,
            what=f"the device made in B ({case}), seen in B",
            why="netlink, /proc/<pid>/net/dev and sysfs of B",
        )
        if new and want_idx:
            f.expect(
                x["B ifindex"],
                want_idx,
                what=f"its ifindex in B ({case})",
                why="the ifindex asked for, free in B",
            )
    last = r["a name B already has"]
    f.errno(
        last["reply"]["errno"],
        "EEXIST" if new else None,
        call="RTM_NEWLINK nshi55x into B (B has one since the case before)"
        if new
        else "RTM_NEWLINK nshi55x into B",
        why="the name is taken in the target" if new else "B has none: the earlier ones failed",
    )
    f.expect(
        r["init after"],
        idx,
        what="init's devices' ifindex afterwards",
        why="creating in B leaves init's devices alone",
    )
    f.done()


@pytest.mark.behaviour(56, 57)
def test_a_device_with_a_link_netns_is_made_in_its_target_and_tells_the_link_netns_nothing(
    agent, nsh_kernel, observe
):
    """56, 57. From init: macvlan nshi56m into X (IFLA_NET_NS_FD) on Y's dummy
    (IFLA_LINK_NETNSID = Y's nsid in X, IFLA_LINK = its ifindex in Y). On every series it
    ends in X with link_netnsid = that nsid and link = the dummy's ifindex (the lower device
    is found in Y). From 6.15 (boundary from source, unverified) it is created in X
    directly: a listener in Y sees no link event, and a name Y already has is no clash;
    6.1/6.12 create it in Y and move it (Y sees NEWLINK and DELLINK; the clash is EEXIST). A
    veth into X with its peer into Y: link_netnsid on each side. Bug: rtnl_create_link in
    the link netns again -> "Y's listener saw ['NEWLINK', 'DELLINK'] for nshi56m; expected
    [] (...)"."""
    r = observe("link", agent.link_netns_on_create())
    f = Findings()
    direct = DIRECT_CREATE.has(nsh_kernel)
    nsid, lower = r["Y's nsid in X"], r["lower ifindex in Y"]
    m = r["macvlan"]
    f.errno(
        m["reply"]["errno"],
        None,
        call="RTM_NEWLINK macvlan nshi56m into X with a link netns Y",
        why="IFLA_LINK_NETNSID names Y as X knows it",
    )
    x = m["in X"] or {}
    f.expect(
        [x.get("kind"), x.get("link_netnsid"), x.get("link")],
        ["macvlan", nsid, lower],
        what="nshi56m in X [kind, link_netnsid, link]",
        why="on Y's dummy, as X calls Y",
    )
    f.expect(m["ifindex in Y"], None, what="nshi56m in Y", why="it lives in X")
    why = DIRECT_CREATE.note() + ("" if direct else f"; kernel {nsh_kernel.release}")
    f.expect(
        m["Y's listener saw"],
        [] if direct else ["NEWLINK", "DELLINK"],
        what="the link events a listener in Y saw for nshi56m",
        why=why,
    )
    c = r["a name Y has"]
    f.errno(
        c["reply"]["errno"],
        None if direct else "EEXIST",
        call="RTM_NEWLINK macvlan nshi56c into X, a name Y has, with link netns Y",
        why=why,
    )
    f.expect(
        c["ifindex in Y"], r["Y's nshi56c"], what="Y's own nshi56c afterwards", why="untouched"
    )
    v = r["veth into X, peer into Y"]
    vx, vy = v["in X"] or {}, v["peer in Y"] or {}
    f.expect(
        [v["reply"]["errno"], vx.get("link_netnsid"), vy.get("link"), vx.get("link")],
        [None, nsid, vx.get("index"), vy.get("index")],
        what="veth nshi56v into X, peer into Y [errno, X side's link_netnsid, peers' "
        "ifindex crosswise]",
        why="each end points at the other, across the netns",
    )
    f.done()


@pytest.mark.behaviour(57)
def test_listen_all_nsid_tells_the_nsid_of_remote_events_only(agent, nsh_kernel, observe):
    """57. A NETLINK_LISTEN_ALL_NSID listener in N1, on every series (the catalogue read
    af_netlink.c as unchanged since 6.12; Debian 6.1.192 and 6.12.118 do the same): a
    device made in N1 comes with no nsid — also after N1 got an nsid for itself
    (self-referential) — and one made in N2 with N2's nsid in N1. Bug: peernet2id for local
    events -> "the event of nshi57sr, local with N1's own nsid 0, carried nsid 0; expected
    none (...)"."""
    r = observe("events", agent.all_nsid_events())
    f = Findings()
    cases = {
        "local, no nsid": ("nshi57lo", None),
        "local, self nsid": ("nshi57sr", None),
        "remote": ("nshi57re", r["N2's nsid in N1"]),
    }
    self_id = r["N1's nsid for itself"]
    f.check(isinstance(self_id, int), f"N1 got no nsid for itself: {self_id}")
    for case, (name, want) in cases.items():
        got = [e for e in r[case] if e[0] == name]
        f.expect(
            got,
            [[name, want]],
            what=f"the events of {name} ({case}) [name, nsid]",
            why="local events carry no nsid, remote ones their netns's nsid here",
        )
    f.done()
