"""Devices moving between network namespaces: sysfs views, uevents, attribute ownership
and counters (catalogue items 6, 7, 9, v2).

A move is seen three independent ways: uevents (a NETLINK_KOBJECT_UEVENT listener per
netns), rtnetlink multicast (RTM_DELLINK/NEWLINK per netns) and sysfs mounted from each
side. References come from rtnetlink inside the namespace, the user namespace's id maps or
the machine's configuration (the spare NIC's MAC), never from the sysfs under test. A test
whose move itself failed reports that alone, not its consequences.
"""

import re

import pytest

from harness.scenario.gates import kernel_version, needs_config
from harness.scenario.verdict import Findings

from ._sysfs import AT_MOUNT, expect_rows, require, show

pytestmark = [pytest.mark.vm, pytest.mark.area("sysfs-views")]


@pytest.mark.behaviour(6)
def test_moved_device_leaves_the_source_view_and_appears_in_the_target(agent, observe):
    """6. Dummy nshv6 made in init, moved into B by one RTM_NEWLINK. Oracles: uevent
    listeners in init, B and a bystander C; RTM_DELLINK/NEWLINK multicast in init and B (the
    move seen independently of uevents); init's /sys and a B-tagged sysfs (class/net,
    devices/virtual/net) vs RTM_GETLINK inside B. Bugs: KOBJ_ADD sent before dev_net_set()
    -> "uevents in init (source) gave [remove@nshv6, add@nshv6]; expected [remove@nshv6]"
    and "uevents in B were []; expected add@nshv6 first"; untagged broadcast -> bystander
    C gets them."""
    r = observe("move", agent.sysfs_move_views_and_uevents())
    c, m = r["created"], r["moved"]
    require(["add", "nshv6", None] in c["uevents"]["init"], "see nshv6's add@ in init",
            f"init's uevent listener got {c['uevents']['init']}")  # fmt: skip
    f = Findings()
    f.errno(r["move"]["errno"], None, call="RTM_NEWLINK IFLA_NET_NS_FD=B on dummy nshv6",
            why="a dummy can move to another netns")  # fmt: skip
    if r["move"]["errno"]:
        f.done()
    ue, rtnl = m["uevents"], {"init": [["DELLINK", "nshv6"]], "B": [["NEWLINK", "nshv6"]]}
    expect_rows(f, [
        (m["rtnl"], rtnl, "rtnetlink events of the move", "nshv6 left init and joined B"),
        (show(ue["init"]), "[remove@nshv6]", "uevents in init (source)",
         "a move announces remove@ in the netns the device left"),
        (show(ue["C"]), "[]", "uevents in bystander netns C", "a device's uevents go only to "
         "its own netns"),
    ])  # fmt: skip
    f.check(ue["B"][:1] == [["add", "nshv6", None]], f"uevents in B (target) were "
            f"{show(ue['B'])}; expected add@nshv6 first (a move announces add@ in the "
            "device's new netns)")  # fmt: skip
    for view in ("class_net", "virtual_net"):
        f.check("nshv6" in c["init_sysfs"][view] and "nshv6" not in c["b_sysfs"][view],
                f"before the move, {view} lists nshv6 in init's view: {c['init_sysfs'][view]},"
                f" in B's: {c['b_sysfs'][view]}; {AT_MOUNT}")  # fmt: skip
        f.check("nshv6" not in m["init_sysfs"][view], f"init's /sys {view} still lists nshv6 "
                "after it moved to B")  # fmt: skip
        f.expect(m["b_sysfs"][view], m["b_netlink"], what=f"{view} of the B-tagged sysfs "
                 "after the move", why=f"{AT_MOUNT} (RTM_GETLINK inside B)")  # fmt: skip
    f.done()


@pytest.mark.behaviour("v2", 6)
def test_move_uevents_in_the_target_have_an_extra_move_before_6_8_a_lone_add_after(
    agent, nsh_kernel, observe
):
    """v2 (and 6). Three moves into B: plain; with a new name free in B (do_setlink moves,
    then renames); with a new name while the old one is taken in B (the kernel renames
    inside __dev_change_net_namespace). Before 6.8 device_rename() sends move@ after the
    add@ on every move (the same name on a plain move); 6.8+ (dd891b5b106f) suppresses it
    and sends add@ after the kernel's rename — but a rename requested beside the move is
    still add@old + move@new. Oracles: uevent listeners in B and init (always one remove@).
    Bug: dropping dev_set_uevent_suppress() on 6.12 -> "plain move: uevents in B on
    6.12.117 (>= 6.8) gave [add@nshv2a, move@nshv2a(from nshv2a)]; expected [add@nshv2a]"."""
    r = observe("sequences", agent.sysfs_move_uevent_sequences())
    v = kernel_version(nsh_kernel)
    new = v >= (6, 8)
    ver = f"{'.'.join(map(str, v))} ({'>=' if new else '<'} 6.8)"
    cases = {  # case: (what, old name, on >= 6.8, before 6.8)
        "plain": ("plain move", "nshv2a", "[add@nshv2a]",
                  "[add@nshv2a, move@nshv2a(from nshv2a)]"),
        "rename": ("move with name nshv2n (free in B)", "nshv2r",
                   "[add@nshv2r, move@nshv2n(from nshv2r)]",
                   "[add@nshv2r, move@nshv2r(from nshv2r), move@nshv2n(from nshv2r)]"),
        "clash_rename": ("move with name nshv2x (nshv2c taken in B)", "nshv2c",
                         "[add@nshv2x]", "[add@nshv2c, move@nshv2x(from nshv2c)]"),
    }  # fmt: skip
    why = ("6.8+ suppresses uevents around the rename inside a move and sends add@ after it; "
           "a rename asked for beside the move is do_setlink's own, after it") if new else (
           "before 6.8, __dev_change_net_namespace() sends add@, then device_rename() sends "
           "move@ (with the unchanged name if not renamed)")  # fmt: skip
    f = Findings()
    for case, (what, old, want_new, want_old) in cases.items():
        got = r[case]
        f.errno(got["move"]["errno"], None, call=f"{what} of {old}", why="the move is valid")
        if got["move"]["errno"]:
            continue
        expect_rows(f, [
            (show(got["target"]), want_new if new else want_old, f"{what}: uevents in B on "
             f"{ver}", why),
            (show(got["source"]), f"[remove@{old}]", f"{what}: uevents in init",
             "the source netns sees the device removed under its old name"),
        ])  # fmt: skip
    f.done()


def spare_nic_mac(vm) -> str | None:
    """The spare NIC's MAC on the QEMU command line the harness built (None: no NIC)."""
    cfg = vm.qemu.cfg
    if not cfg.spare_nic:
        return None
    found = re.findall(r"netdev=n1,\S*mac=([0-9a-f:]+)", " ".join(cfg.machine_args()))
    return found[0] if found else None


@pytest.mark.behaviour(7)
def test_moved_nic_leaves_an_empty_class_dir_in_the_host_view(agent, vm, observe):
    """7. The spare virtio NIC eth1 moved into B (holder with dummy nshv7b) and back.
    Oracles: readdir of its class glue dir (.../virtioN/net/) in init's /sys and in a
    B-tagged sysfs; class/net and devices/virtual/net in both; uevents in both;
    RTM_GETLINK in both, with the MAC QEMU was given. Bug: the glue dir losing its ns tag
    -> "host view of .../virtio3/net after the move gave [eth1]; expected [] (...)".
    Leaves eth1 in init, DOWN, named eth1 (the guest op returns it in any case)."""
    mac = spare_nic_mac(vm)
    if mac is None:
        pytest.skip("the harness started this guest without a spare NIC")
    r = observe("nic", agent.sysfs_nic_device_tree(nic="eth1"))
    before, a, glue = r["before"], r["after"], r["glue"]
    dev = glue[len("/sys") :] + "/eth1"
    require(before["init_glue"] == ["eth1"], "find eth1 under its PCI device", before)
    f = Findings()
    vi, vb = before["init"]["virtual_net"], before["b"]["virtual_net"]
    f.check("nshv7b" in vb and "nshv7b" not in vi, f"devices/virtual/net lists B's nshv7b "
            f"in init's view: {vi}, in B's view: {vb}; {AT_MOUNT}")  # fmt: skip
    f.expect(before["b_glue"], [], what=f"B's view of {glue} before the move",
             why="init's NIC is filtered out of B's view")  # fmt: skip
    f.errno(r["move"]["errno"], None, call="RTM_NEWLINK IFLA_NET_NS_FD=B on eth1",
            why="a physical NIC can move")  # fmt: skip
    if r["move"]["errno"]:
        f.done()
    expect_rows(f, [
        ((a["b_netlink"] or {}).get("address"), mac, "MAC of eth1 in B's RTM_GETLINK",
         "the NIC QEMU was given moved"),
        ("eth1" in a["init_netlink"], False, "eth1 in init's RTM_GETLINK", "it moved"),
        (a["init_glue"], [], f"host view of {glue} after the move", "the class glue dir "
         "stays, its ns-tagged entry is filtered"),
        (a["b_glue"], ["eth1"], f"B's view of {glue} after the move", AT_MOUNT),
        (["eth1" in a["init_class_net"], "eth1" in a["b_class_net"]], [False, True],
         "eth1 in class/net of [init's, B's] view after the move", AT_MOUNT),
        (a["b_link"], "/mnt/b" + dev, "class/net/eth1 in B's view", "it keeps its PCI path"),
        (a["b_uevent_file"].split("\n")[0], "INTERFACE=eth1", "eth1's uevent file in B's "
         "view", "it names the interface"),
        (show(a["init_uevents"]), "[remove@eth1]", "uevents in init", "eth1 moved out"),
        (a["b_uevents"][:1], [["add", "eth1", None, dev]], "first uevent in B", "moved in"),
        ((r["move_back"] or {}).get("errno"), None, "errno of moving eth1 back to init",
         "it can move back"),
        ([r["back"]["name"], r["back"]["up"], r["back"]["init_glue"]], ["eth1", False, ["eth1"]],
         "eth1 back in init (name, up, host view of its glue dir)",
         "a moved NIC returns DOWN with its name and is listed again"),
    ])  # fmt: skip
    f.done()


@pytest.mark.behaviour(9)
def test_attribute_owner_follows_the_netns_owner_and_counters_survive_a_move(
    agent, nsh_kernel, observe
):
    """9. Dummy nshv9 (7 frames sent through it, then down) moved into U's netns — U: user
    + net + mnt ns made by uid 65534 — and back. Oracles: stat() owners from init's user ns
    (through a U-tagged sysfs) vs U's /proc/PID/uid_map and gid_map; stat() from inside U;
    write errno and read-back through sysfs and RTM_GETLINK (IFLA_MTU, also after the
    return); tx_packets through sysfs, IFLA_STATS64 and /proc/net/dev. Bugs: no
    netdev_change_owner() on a move -> "owners of nshv9's sysfs files ... in U's netns
    gave {dir: [0, 0] ...}; expected [65534, 65534] ..." and U's root gets EACCES writing
    mtu; netdev_store() using capable() -> "writing mtu (1400) as root of U failed with
    EPERM"; ... using current_user_ns() -> "write() to an mtu fd opened as root, after
    unshare(CLONE_NEWUSER) succeeded; expected EPERM"; counters reset on a move ->
    "tx_packets ... in U gave {sysfs: '0' ...}"."""
    needs_config(nsh_kernel, "USER_NS", "a netns owned by an unprivileged user's user ns")
    needs_config(nsh_kernel, "PACKET", "frames sent through AF_PACKET")
    r = observe("attrs", agent.sysfs_attrs_across_move())
    require(r["sent"] == 7, "send 7 frames through nshv9", f"sent {r['sent']}")
    (_, uid, _), (_, gid, _) = r["u_maps"]
    zero = {"dir": [0, 0], "mtu": [0, 0], "queue": [0, 0]}
    in_u = {k: [int(uid), int(gid)] for k in zero}
    tx = r["before"]["tx"]
    require(tx["netlink"] is not None and tx["netlink"] >= 7, "count nshv9's tx_packets", tx)
    f = Findings()
    f.expect(r["before"]["owners"], zero, what="owners of nshv9's sysfs files (dir, mtu, "
             "queues/tx-0/tx_maxrate) in init", why="init_user_ns's root: 0:0")  # fmt: skip
    f.errno(r["before"]["write_mtu_without_cap_net_admin"], "EPERM", call="writing mtu as "
            "root without CAP_NET_ADMIN", why="netdev attribute writes need CAP_NET_ADMIN over "
            "the device netns's user ns (DAC passes: root owns the file)")  # fmt: skip
    f.errno(r["before"]["write_mtu_as_root_of_new_userns"], "EPERM", call="write() to an mtu "
            "fd opened as root, after unshare(CLONE_NEWUSER)", why="CAP_NET_ADMIN is needed "
            "over the device netns's user ns (init's), not the writer's own")  # fmt: skip
    f.expect(tx, {"sysfs": str(tx["netlink"]), "netlink": tx["netlink"], "proc": tx["netlink"]},
             what="tx_packets before the move (sysfs, IFLA_STATS64, /proc/net/dev)",
             why="three interfaces read the same counters")  # fmt: skip
    f.errno(r["move"]["errno"], None, call="moving nshv9 into U's netns", why="root may")
    if r["move"]["errno"]:
        f.done()
    view, inside, back = r["in_u_root_view"], r["in_u_inside"], r["back"]
    require(inside["ids"] == [0, 0], "become root of U", inside["ids"])
    survive = "counters survive a move (the device was down: nothing was sent meanwhile)"
    f.errno(inside["write_mtu"], None, call="writing mtu (1400) as root of U", why="it has "
            "CAP_NET_ADMIN over the netns's owner (U) and owns the file")  # fmt: skip
    f.errno(inside["write_tx_queue_len"], "EPERM", call="writing tx_queue_len as root of U",
            why="tx_queue_len_store() checks capable(CAP_NET_ADMIN): init's user ns")  # fmt: skip
    f.errno((r.get("move_back") or {}).get("errno"), None, call="moving nshv9 back to init",
            why="root of init may")  # fmt: skip
    expect_rows(f, [
        (view["owners"], in_u, "owners of nshv9's sysfs files in U's netns, seen from init's "
         "user ns", "a move gives them the ids U's root maps to (U's uid_map/gid_map)"),
        (inside["owners"], zero, "owners of nshv9's files seen from inside U", "U's root "
         "owns them"),
        ([inside["mtu_sysfs"], inside["mtu_netlink"]], ["1400", 1400], "mtu (sysfs, "
         "RTM_GETLINK) after U's root wrote 1400", "the write took effect"),
        (back["owners"], zero, "owners of nshv9's files back in init", "root's again"),
        (back["mtu"], 1400, "RTM_GETLINK mtu in init after the return", "U's root set it"),
        (view["tx"], tx, "tx_packets (sysfs, IFLA_STATS64, /proc/net/dev) in U", survive),
        (back["tx"], tx, "tx_packets (sysfs, IFLA_STATS64, /proc/net/dev) back in init",
         survive),
    ])  # fmt: skip
    f.done()
