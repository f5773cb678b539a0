"""Namespace identity and lifetime (catalogue items 19-22).

A netns under test is made by a creator process that exits; it has a dummy inside, a veth
whose peer is in init, and an id in init's table. Its death shows in two families of
signs: its *id* (leaving init's RTM_GETNSID table, an RTM_DELNSID event) and its *devices*
(the veth peer vanishing — RTM_GETLINK, RTM_DELLINK — and a NIC moved in coming back). The
item-22 test demands all of them and says which family failed, so a veth bug reads as a
device bug; the keep-alive tests (20, 21) accept either family, so a veth or nsid bug
does not cascade into them. "Still alive" is judged only after a sentinel netns released
later died: one cleanup work item takes every netns whose last reference dropped before it
ran (net/core/net_namespace.c cleanup_net), so anything dropped earlier would be gone too.
"""

import re

import pytest

from harness.guest.uapi import CLONE
from harness.scenario.verdict import BehaviourChanged, Findings, SetupStepFailed

pytestmark = [pytest.mark.vm, pytest.mark.area("lifetime")]

CONFIG_FOR = {"net": "NET_NS", "uts": "UTS_NS", "ipc": "IPC_NS", "pid": "PID_NS",
              "user": "USER_NS", "cgroup": "CGROUPS", "time": "TIME_NS"}  # fmt: skip
NSFS_MAGIC = 0x6E736673


def destroyed(w: dict, n: str, after: str, peer: str, nic=None, strict=False) -> str | None:
    """Netns *n* died after *after* (w: seconds until each sign, None = not seen). Not
    strict: either family will do, a disagreement is returned as a note. Strict: every sign
    must come, else the message says whether the netns, its id or a device failed."""
    ids = {"its nsid left init's RTM_GETNSID table": w["nsid_gone"],
           "RTM_DELNSID arrived": w["delnsid_event"]}  # fmt: skip
    devs = {f"the veth peer {peer} vanished from init (RTM_GETLINK)": w["peer_gone"],
            f"RTM_DELLINK for {peer} arrived": w["dellink_event"]}  # fmt: skip
    if nic:
        devs[f"{nic} came back to init_net"] = w["nic_back"]
    signs = {**ids, **devs}
    seen = [k for k, v in signs.items() if v is not None]
    missing = [k for k, v in signs.items() if v is None]
    if not missing:
        return None
    if not seen:
        raise BehaviourChanged(f"netns {n} was not destroyed within 5 s after {after}: none of"
                               f" these happened: {'; '.join(missing)}")  # fmt: skip
    if None not in ids.values():
        why = "the netns died but a device did not follow it"
        if any(k.startswith("the veth") for k in missing):
            why += ": veth did not delete its peer when the peer's netns died"
    elif None not in devs.values():
        why = "the netns died (its devices were torn down) but its id was not removed/announced"
    elif all(v is None for v in ids.values()):
        why = "its id is still listed and unannounced although some devices went"
    else:
        why = "init's netns id table and the RTM_DELNSID notification disagree"
    note = f"after {after}, netns {n}: {'; '.join(seen)} — but NOT: {'; '.join(missing)} ({why})"
    if strict:
        raise BehaviourChanged(note)
    return note


def sentinel_done(w: dict) -> None:
    """The sentinel (released after the event, nothing pins it) died: its id left the table
    or its veth peer left init — either proves a cleanup run took everything dropped before."""
    if w["nsid_gone"] is None and w["peer_gone"] is None:
        raise BehaviourChanged(
            "a sentinel netns with no reference left was not destroyed within 5 s (nsid still "
            "listed, veth peer still present): netns destruction itself is broken (see the "
            "destruction test), so 'kept alive' cannot be judged"
        )


def alive(f: Findings, st: dict, n: str, held_by: str, peer: str) -> None:
    """Netns *n* is still alive (judged after the sentinel died) on every channel."""
    signs = {"its nsid left init's table": not st["nsid_listed"],
             "RTM_DELNSID arrived": st["delnsid_event"],
             f"its veth peer {peer} vanished": not st["peer_present"],
             f"RTM_DELLINK for {peer} arrived": st["dellink_event"]}  # fmt: skip
    dead = [k for k, v in signs.items() if v]
    if len(dead) == len(signs):
        what = f"netns {n} was destroyed although {held_by} still referenced it"
    else:
        what = f"netns {n}, held by {held_by}, shows signs of destruction on some channels"
    f.check(not dead, f"{what} (a netns released later had already died): {'; '.join(dead)}")


@pytest.mark.behaviour(19)
def test_ns_link_reads_type_and_nsfs_inode_and_identity_is_dev_and_ino(agent, nsh_kernel, observe):
    """19. Every /proc/self/ns link: readlink "type:[N]" with N == stat().st_ino == fstat()
    of an opened fd; all on one device whose statfs type is NSFS_MAGIC; lstat is the procfs
    symlink itself; NS_GET_NSTYPE (an ioctl) names the type; pid 1 shares init's inodes; a
    new netns gets a new inode on the same device. Bug: ns_get_name() printing another
    number -> "readlink of the net ns link says net:[X] but stat().st_ino is Y"."""
    r = observe("identity", agent.nsfs_identity())
    f = Findings()
    for kind, opt in CONFIG_FOR.items():
        if nsh_kernel.config.get(opt) == "y":
            f.check(kind in r["self"], f"/proc/self/ns/{kind} is missing though CONFIG_{opt}=y")
    dev = r["self"]["net"]["stat"][0]
    links = [*r["self"].items(), *((f"{k} (new namespace)", v) for k, v in r["holder"].items())]
    for name, v in links:
        base = name.split()[0].replace("_for_children", "")
        m = re.fullmatch(r"([a-z_]+):\[(\d+)\]", v["readlink"])
        f.check(bool(m) and m[1] == base, f"readlink of the {name} ns link is {v['readlink']!r};"
                f" expected '{base}:[<inode>]'")  # fmt: skip
        f.check(bool(m) and int(m[2]) == v["stat"][1], f"readlink of the {name} ns link says "
                f"{v['readlink']} but stat().st_ino is {v['stat'][1]}")  # fmt: skip
        f.expect(v["fstat"], v["stat"], what=f"fstat (dev, ino) of an opened {name} ns file",
                 why="an opened ns file is the same nsfs inode")  # fmt: skip
        f.check(v["lstat"] != v["stat"], f"lstat of the {name} link equals its target "
                f"{v['stat']}: expected the procfs symlink itself")  # fmt: skip
        f.expect(v["fs_type"], NSFS_MAGIC, what=f"statfs f_type of the {name} ns file",
                 why="namespace files live on nsfs")  # fmt: skip
        f.expect(v["stat"][0], dev, what=f"st_dev of the {name} ns file",
                 why="all namespaces share the one nsfs device (init's net ns's)")  # fmt: skip
        f.expect(v["nstype"], CLONE[base], what=f"NS_GET_NSTYPE on the {name} ns file",
                 why=f"it is a {base} namespace")  # fmt: skip
    for kind, v in r["self"].items():
        f.expect(r["pid1"][kind], v["stat"][1], what=f"/proc/1/ns/{kind} inode",
                 why="the agent runs in init's namespaces")  # fmt: skip
    for kind in ("net", "uts"):
        f.check(
            r["holder"][kind]["stat"][1] != r["self"][kind]["stat"][1],
            f"a new {kind} namespace has init's inode: identity must be (dev, ino)",
        )
    f.expect(r["self"]["pid_for_children"]["stat"], r["self"]["pid"]["stat"],
             what="pid_for_children of a process that never joined another pid ns",
             why="it is its own pid ns")  # fmt: skip
    f.done()


@pytest.mark.behaviour(20)
def test_bind_mount_keeps_netns_alive_after_its_last_process_exits(agent, observe):
    """20. The creator bind-mounts /proc/self/ns/net on /run/nshl20 and exits. Alive (after
    the sentinel died): nsid listed, no RTM_DELNSID, veth peer present, and setns() through
    the path lists its dummy. The path is no symlink (readlink EINVAL); stat gives the
    creator's inode on nsfs; mountinfo says nsfs with root net:[N]. umount2(MNT_DETACH) +
    unlink -> destroyed. Bug: an nsfs mount not pinning its ns -> "netns nshl20 was destroyed
    although a bind mount at /run/nshl20 still referenced it ..."."""
    r = observe("bind", agent.bind_mount_keepalive())
    sentinel_done(r["sentinel"])
    f, j, mi = Findings(), r["joined"], r["mountinfo"] or {}
    alive(f, r["after_creator_exit"], "nshl20", "a bind mount at /run/nshl20", r["peer"])
    f.check("exception" not in j, f"setns() through the bind mount failed: {j.get('exception')}")
    f.expect(j.get("ino"), r["ino"], what="the netns inode after setns() through /run/nshl20",
             why="the mount refers to the creator's netns")  # fmt: skip
    f.check("nshl20b" in j.get("netlink", []), "RTM_GETLINK after setns() through /run/nshl20"
            f" lists {j.get('netlink')}; expected the creator's dummy nshl20b")  # fmt: skip
    f.expect(r["readlink"], {"errno": "EINVAL"}, what="readlink(/run/nshl20)",
             why="a bind mount of an ns file is the nsfs inode itself, not a symlink")  # fmt: skip
    f.expect(r["stat"], {"ino": r["ino"], "nsfs_dev": True}, what="stat(/run/nshl20)",
             why="the creator's netns inode, on the nsfs device")  # fmt: skip
    f.expect((mi.get("fstype"), mi.get("root")), ("nsfs", f"net:[{r['ino']}]"),
             what="mountinfo (fstype, root) of /run/nshl20", why="an nsfs mount of it")  # fmt: skip
    after = "umount2(/run/nshl20, MNT_DETACH) + unlink, its last reference"
    observe("channels_disagree", f.run(destroyed, r["after_umount"], "nshl20", after, r["peer"]))
    f.done()


@pytest.mark.behaviour(21)
def test_an_open_nsfs_fd_or_udp_socket_keeps_netns_alive(agent, observe):
    """21. Two creators exit, one leaving us an nsfs fd of its netns, one an ordinary UDP
    socket (passed over SCM_RIGHTS). Alive (after the sentinel died): nsid listed, no
    RTM_DELNSID, veth peer present; the fd's fstat and the socket's SIOCGSKNS give the
    creator's own inode. Closing each destroys it. Bug: sk_alloc() not taking a netns
    reference for user sockets -> "netns nshl21u was destroyed although an open UDP socket
    still referenced it"."""
    r = observe("keepalive", agent.fd_and_socket_keepalive())
    sentinel_done(r["sentinel"])
    f = Findings()
    for key, what, ref in (("nsfs_fd", "an open nsfs fd", "fstat_ino"),
                           ("udp_socket", "an open UDP socket", "SIOCGSKNS_ino")):  # fmt: skip
        x, n = r[key], "nshl21" + key[0]
        alive(f, x["alive"], n, what, x["peer"])
        f.expect(x[ref], x["ino"], what=f"{ref.split('_')[0]} of {what}",
                 why="it refers to the netns its creator was in")  # fmt: skip
        note = f.run(destroyed, x["after_close"], n, f"closing {what}", x["peer"])
        observe(f"{key}_channels_disagree", note)
    f.done()


@pytest.mark.behaviour(21)
def test_ip_netns_delete_unmounts_and_unlinks_and_an_open_fd_keeps_the_netns(agent, observe):
    """21. `ip netns add` then `ip netns delete` while we hold an fd of /run/netns/NAME:
    exit 0, the name and its nsfs mount are gone (iproute2: umount2(MNT_DETACH) + unlink),
    the netns is alive (nsid, no RTM_DELNSID, veth peer) until the fd closes; then it dies.
    Bug: an nsfs fd not pinning its ns -> "netns nshl21d was destroyed although an open fd of
    /run/netns/nshl21d still referenced it"."""
    r = observe("ip_netns", agent.ip_netns_delete_keepalive())
    if (r["mountinfo_before"] or {}).get("root") != f"net:[{r['ino']}]":
        raise SetupStepFailed("ip netns add nshl21d", f"mountinfo shows {r['mountinfo_before']}")
    f = Findings()
    f.expect(r["delete"]["rc"], 0, what="`ip netns delete nshl21d` exit code", why="it exists")
    f.check(not r["name_exists"], "/run/netns/nshl21d still exists after `ip netns delete`")
    f.expect(r["mountinfo_after"], None, what="mountinfo of /run/netns/nshl21d after delete",
             why="umount2(MNT_DETACH) detaches it at once")  # fmt: skip
    sentinel_done(r["sentinel"])
    alive(f, r["alive"], "nshl21d", "an open fd of /run/netns/nshl21d", r["peer"])
    f.expect(r["fd_ino"], r["ino"], what="fstat of that fd after the delete", why="same netns")
    note = f.run(destroyed, r["after_close"], "nshl21d", "closing that fd", r["peer"])
    observe("channels_disagree", note)
    f.done()


@pytest.mark.behaviour(22)
def test_netns_destruction_is_seen_on_every_channel_and_completes(agent, observe):
    """22. Netns B (veth peer in init, the spare NIC eth1 moved in) loses its only process.
    Every sign must come: nsid leaves init's table; RTM_DELNSID; veth peer gone (RTM_GETLINK)
    and its RTM_DELLINK; eth1 back in init (default_device_exit). Then a sentinel netns
    released afterwards must die too: cleanup work is serialised, so B's teardown returned
    (a leaked device reference would block it in netdev_run_todo; meanwhile
    netdev_unregister_timeout_secs is 1 s so the kernel's "unregister_netdevice: waiting
    for" shows). The state right after waitpid is a race: observed, not judged. Bugs: veth
    not deleting its peer -> "... (the netns died but a device did not follow it: veth did
    not delete its peer ...)"; unhash_nsid skipped -> "... (... its id was not removed ...)"."""
    r = observe("destruction", agent.netns_destruction(nic="eth1"))
    f, s = Findings(), r["sentinel"]
    f.run(destroyed, r["B"], "B", "its only process exited", r["peer"], r["nic"], strict=True)
    b_died = any(v is not None for v in r["B"].values())
    s_died = s["nsid_gone"] is not None or s["peer_gone"] is not None
    f.check(not b_died or s_died, "netns B's teardown did not complete: a netns released after "
            "B died was not destroyed within 5 s (cleanup_net is stuck); kernel log: "
            f"{r['kmsg'] or 'nothing about it'}")  # fmt: skip
    f.check(not r["kmsg"], f"the kernel log says {r['kmsg']} (a device reference leaked)")
    f.done()
