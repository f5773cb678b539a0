"""Moving and creating devices across network namespaces: clashes of name, altname and
ifindex (catalogue items 33, v3), and creating a device in another netns under a name the
caller's netns has (34).

Other netns are held by processes started in them; presence is read three ways (RTM_GETLINK
from a socket checked to live in that netns, /proc/<pid>/net/dev, the netns's own sysfs).
Extended-ack texts are asserted per version (none on 6.1, the 6.15 texts on 6.12.117).
"""

import pytest

from harness.scenario.gates import Boundary, kernel_version
from harness.scenario.verdict import Findings

from ._devsock import move_extack, needs_drivers, presence, reply

pytestmark = [pytest.mark.vm, pytest.mark.area("devices")]


@pytest.mark.behaviour(33)
def test_move_onto_a_taken_name_is_eexist_unless_renamed_in_the_same_request(
    agent, nsh_kernel, observe
):
    """33. nsh33 in init and in B; init's moved to B: EEXIST (extack per version: none on
    6.1, "An interface with the same name exists in the target netns" on 6.12.117); both
    stay where they were, with their ifindexes (B has one nsh33). The same move with
    IFLA_IFNAME=nsh33r in the request succeeds: nsh33r in B (three views), nsh33 gone from
    init. Bugs: no name check on move -> "moving init's nsh33 into B (which has one)
    succeeded; expected EEXIST"; rename not applied with the move -> "moving with
    IFLA_IFNAME=nsh33r failed with EEXIST; expected success"."""
    needs_drivers(nsh_kernel, "DUMMY")
    r = observe("probe", agent.move_name_clash())
    why = "a netns cannot hold two devices of one name"
    f = Findings()
    ext = move_extack(nsh_kernel, "An interface with the same name exists in the target netns")
    reply(f, r["move"], "EEXIST", "moving init's nsh33 into B (which has one)", why, ext)
    ia, ba = r["init after"], r["B after"]
    presence(f, ia, True, "init's nsh33 after the refused move", why)
    f.check(
        ia["ifindex"] == ia["ifindex before"]
        and ba["ifindex"] == ba["ifindex before"]
        and ba["nsh33 in /proc/net/dev"] == 1,
        f"after the refused move init's nsh33 has ifindex {ia['ifindex']} (was "
        f"{ia['ifindex before']}), B lists nsh33 {ba['nsh33 in /proc/net/dev']} time(s) "
        f"with ifindex {ba['ifindex']} (was {ba['ifindex before']}); expected both "
        "untouched",
    )
    reply(
        f,
        r["move renamed"],
        None,
        "moving init's nsh33 into B with IFLA_IFNAME=nsh33r",
        "a rename in the same request avoids the clash",
    )
    presence(f, r["nsh33r in B"], True, "nsh33r in B", "moved and renamed")
    presence(f, r["nsh33 in init after the renaming move"], False, "nsh33 in init", "it left for B")
    f.done()


def altnames_fixed(kernel) -> bool:
    """Altnames move with their device and are checked on move since 6.6 (8e15aee62161,
    7663d522099e); 6.1.192 has the backports (observed)."""
    v = kernel_version(kernel)
    return v >= (6, 6) or (6, 1, 192) <= v < (6, 2)


@pytest.mark.behaviour(33, "v3")
def test_altnames_move_with_the_device_and_an_altname_clash_on_move_is_eexist(
    agent, nsh_kernel, observe
):
    """33, v3. Altnames are per netns (B may give its nsh33b the altname nsh33alt that
    init's nsh33a has). Moving nsh33b to init: EEXIST ("An interface with the altname
    nsh33alt exists in the target netns" on 6.12.117, no extack on 6.1); nsh33b stays in B
    and init still resolves nsh33alt to nsh33a. An altname equal to an init device's *name*
    clashes too. nsh33m (altname nsh33malt) moved to B: B resolves nsh33malt to it and lists
    it, init no longer resolves it, init may reuse it, B may not. Same on 6.1.192 and 6.12
    (backported); older kernels are skipped by version. Bugs: the altname loop dropped from
    __dev_change_net_namespace -> "moving nsh33b ... succeeded; expected EEXIST"; altnames
    left in the old netns's hash -> "init resolves nsh33malt to nsh33m after the move"."""
    needs_drivers(nsh_kernel, "DUMMY")
    if not altnames_fixed(nsh_kernel):
        pytest.skip(
            f"altnames move with their device from 6.6 (6.1.192 has the backports); "
            f"kernel {nsh_kernel.release} predates both"
        )
    r = observe("probe", agent.move_altname_clash())
    f = Findings()
    reply(
        f,
        r["altname nsh33alt on B's nsh33b"],
        None,
        "giving B's nsh33b the altname nsh33alt that init's nsh33a has",
        "altnames are per netns",
    )
    for dev, alt in (("nsh33b", "nsh33alt"), ("nsh33c", "nsh33a")):
        ext = move_extack(
            nsh_kernel, f"An interface with the altname {alt} exists in the target netns"
        )
        reply(
            f,
            r[f"move {dev} to init"],
            "EEXIST",
            f"moving B's {dev} (altname {alt}) to init, where {alt} is taken",
            "names and altnames share one namespace per netns",
            ext,
        )
        presence(
            f,
            r[f"{dev} in B after"],
            True,
            f"{dev} in B after the refused move",
            "a refused move changes nothing",
        )
    f.expect(
        r["init resolves nsh33alt to"],
        "nsh33a",
        what="RTM_GETLINK by altname nsh33alt in init",
        why="it is still nsh33a's",
    )
    moved = "altnames move with their device"
    f.expect(
        r["B resolves nsh33malt to"],
        "nsh33m",
        what="RTM_GETLINK by altname nsh33malt in B after nsh33m moved there",
        why=moved,
    )
    f.expect(
        r["B's nsh33m altnames"], ["nsh33malt"], what="IFLA_PROP_LIST of nsh33m in B", why=moved
    )
    f.expect(
        r["init resolves nsh33malt to"],
        None,
        what="RTM_GETLINK by altname nsh33malt in init after nsh33m left",
        why="the old netns forgets it",
    )
    reply(
        f,
        r["init gives nsh33malt to nsh33n"],
        None,
        "giving nsh33malt to another device in init",
        "it is free there now",
    )
    reply(
        f,
        r["B gives nsh33malt to nsh33o"],
        "EEXIST",
        "giving nsh33malt to another device in B",
        "nsh33m holds it there",
    )
    f.done()


@pytest.mark.behaviour(33)
def test_a_moved_device_whose_ifindex_is_taken_gets_a_new_one(agent, nsh_kernel, observe):
    """33. init's nsh33i and B's nsh33j share ifindex X. Moving nsh33j to init while asking
    for X (IFLA_NEW_IFINDEX, 5.15+) is EBUSY (extack per version); moving it plainly
    succeeds with a new ifindex — RTM_GETLINK, sysfs and SIOCGIFINDEX agree and it is not X;
    nsh33i keeps X. nsh33k (X+1, free in init) keeps its ifindex. Bug: the ifindex
    conflict check dropped -> "nsh33j's ifindex in init by RTM_GETLINK, sysfs, SIOCGIFINDEX
    gave (X, X, X); expected a new ifindex, not X (taken by nsh33i)"."""
    needs_drivers(nsh_kernel, "DUMMY")
    r = observe("probe", agent.move_ifindex_clash())
    x = r["X"]
    f = Findings()
    if kernel_version(nsh_kernel) >= (5, 15):
        ext = move_extack(nsh_kernel, f"The ifindex {x} is not available in the target netns")
        reply(
            f,
            r["move nsh33j asking for X"],
            "EBUSY",
            f"moving nsh33j to init with IFLA_NEW_IFINDEX={x}",
            f"{x} is nsh33i's in init",
            ext,
        )
    reply(f, r["move nsh33j"], None, "moving nsh33j to init", "a clash gets a new ifindex")
    j = r["nsh33j"]
    seen = (
        j["RTM_GETLINK"],
        int(j["sysfs"]) if j["sysfs"].isdigit() else j["sysfs"],
        j["SIOCGIFINDEX"],
    )
    f.check(
        len(set(seen)) == 1 and seen[0] != x,
        f"nsh33j's ifindex in init by RTM_GETLINK, "
        f"sysfs, SIOCGIFINDEX gave {seen}; expected one new ifindex, not {x} (taken by "
        "nsh33i)",
    )
    f.expect(r["nsh33i after"], x, what="nsh33i's ifindex afterwards", why="it was there first")
    reply(f, r["move nsh33k"], None, "moving nsh33k to init", "its ifindex is free there")
    k = r["nsh33k"]
    seen = (
        k["RTM_GETLINK"],
        int(k["sysfs"]) if k["sysfs"].isdigit() else k["sysfs"],
        k["SIOCGIFINDEX"],
    )
    f.expect(
        seen,
        (x + 1,) * 3,
        what="nsh33k's ifindex in init by RTM_GETLINK, sysfs, SIOCGIFINDEX",
        why="a free ifindex is kept",
    )
    f.done()


#: __rtnl_newlink() looks the name up in the target netns only for CREATE|EXCL requests from
#: 6.15 (7.2 net/core/rtnetlink.c: `device_net = (nlh->nlmsg_flags & NLM_F_CREATE) &&
#: (nlh->nlmsg_flags & NLM_F_EXCL) ? tgt_net : net;`; 6.12.118 uses `net` for both). Seen old
#: on 6.1/6.12, new on 7.2/7.3; 6.15 itself was read from source only.
EXCL_IN_TARGET = Boundary("the target-netns lookup of RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL",
                          since=(6, 15))  # fmt: skip


@pytest.mark.behaviour(34)
def test_creating_a_device_in_another_netns_under_a_name_the_caller_has_is_eexist_before_6_15(
    agent, nsh_kernel, observe
):
    """34. `ip link add netns B nsh34 type dummy` (RTM_NEWLINK, NLM_F_CREATE|NLM_F_EXCL,
    IFLA_NET_NS_FD=B) while init has nsh34 and B has none: before 6.15 the name is looked up
    in the *caller's* netns -> EEXIST, B gets nothing, init's nsh34 untouched (6.15 looks in
    the target: success). A name only B has is EEXIST on every version; a fresh name works
    (control). The trap: without NLM_F_EXCL the name is looked up in the caller's netns on
    *every* version (6.15 changed only the EXCL lookup), so the request finds init's nsh34
    and becomes a change of it: a move into the target. Into C (no nsh34) that move succeeds
    everywhere, keeping init's ifindex; into B it succeeds before 6.15, and from 6.15, where
    the EXCL step gave B an nsh34, collides: EEXIST "Unable to use 'nsh34' for the new
    interface name in the target netns" (net/core/dev.c __dev_change_net_namespace), init's
    device stays (seen on 7.2/7.3: the suite's old >= 6.15 expectation, success, had never
    met such a kernel). Bug: the lookup done in the wrong netns -> "RTM_NEWLINK nsh34 into B
    succeeded; expected EEXIST (before 6.15 ...)"."""
    needs_drivers(nsh_kernel, "DUMMY")
    old = not EXCL_IN_TARGET.has(nsh_kernel)
    r = observe("probe", agent.add_in_other_netns_name_clash())
    f = Findings()
    where = (
        "before 6.15 the name is looked up in the caller's netns"
        if old
        else f"the name is looked up in the target netns ({EXCL_IN_TARGET.note()})"
    )
    reply(
        f,
        r["add nsh34 into B"],
        "EEXIST" if old else None,
        "RTM_NEWLINK nsh34 (NLM_F_EXCL) into B, while init has an nsh34",
        where,
    )
    presence(f, r["nsh34 in B after"], not old, "nsh34 in B", where)
    ia = r["init's nsh34 after"]
    f.expect(
        ia["ifindex"],
        ia["ifindex before"],
        what="init's nsh34 ifindex afterwards",
        why="init's device is not touched",
    )
    reply(
        f,
        r["add nsh34e into B"],
        "EEXIST",
        "RTM_NEWLINK nsh34e into B, which has one",
        "the target netns has that name",
    )
    presence(f, r["nsh34e in init after"], False, "nsh34e in init", "nothing was created")
    reply(
        f,
        r["add nsh34f into B (control)"],
        None,
        "RTM_NEWLINK of a fresh name into B",
        "the control",
    )
    presence(f, r["nsh34f in B after"], True, "nsh34f in B", "just created there")
    found = "without NLM_F_EXCL the name is looked up in the caller's netns on every version"
    # Into C, which has no nsh34: a move of init's device on every version.
    reply(
        f,
        r["add nsh34 into C without NLM_F_EXCL"],
        None,
        "RTM_NEWLINK nsh34 into C (no nsh34) with NLM_F_CREATE but without NLM_F_EXCL",
        f"{found}: init's nsh34 is found and moved",
    )
    moved = f"{found}: the request is a change of init's nsh34, moving it"
    presence(f, r["nsh34 in init after no-EXCL into C"], False, "init's nsh34", moved)
    c = r["nsh34 in C after no-EXCL"]
    presence(f, c, True, "nsh34 in C", moved)
    f.expect(c["ifindex"], c["init's ifindex before"], what="the ifindex of nsh34 in C",
             why=f"it is init's device, moved ({moved})")  # fmt: skip
    # Into B: before 6.15 the same move; from 6.15 B holds the nsh34 the EXCL step made.
    b, noexcl = r["nsh34 in B after no-EXCL"], r["add nsh34 into B without NLM_F_EXCL"]
    call = "RTM_NEWLINK nsh34 into B with NLM_F_CREATE but without NLM_F_EXCL"
    if old:
        reply(f, noexcl, None, call, f"{found}: init's nsh34 is found and moved into B")
        presence(f, r["nsh34 in init after no-EXCL"], False, "init's nsh34", moved)
        presence(f, b, True, "nsh34 in B", moved)
        f.expect(b["ifindex"], ia["ifindex before"], what="the ifindex of nsh34 in B",
                 why=f"it is init's device, moved ({moved})")  # fmt: skip
    else:
        clash = (f"{found}, so init's nsh34 is moved into B, which has the nsh34 the EXCL "
                 f"request made ({EXCL_IN_TARGET.note()})")  # fmt: skip
        reply(f, noexcl, "EEXIST", call, clash,
              "Unable to use 'nsh34' for the new interface name in the target netns")  # fmt: skip
        presence(f, r["nsh34 in init after no-EXCL"], True, "init's nsh34", clash)
        f.expect(r["init's nsh34 after no-EXCL"]["ifindex"], ia["ifindex before"],
                 what="init's nsh34 ifindex after the refused move", why=clash)  # fmt: skip
        presence(f, b, True, "B's own nsh34", clash)
    f.done()
