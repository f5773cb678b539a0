"""Whose devices a sysfs mount shows (catalogue items 1, 2, 3, 8).

A sysfs mount is tagged with its mounter's netns at mount time; /sys/class/net and
/sys/devices/virtual/net list only that netns's devices. Every view is judged against a
reference another kernel interface gave: the device list rtnetlink (RTM_GETLINK) returned
*inside* the namespace, to the process that unshared it and created its devices — never a
sysfs listing. Each test reports every broken expectation at once. (Items 4, 5, 10:
test_sysfs_mounts.py; 6, 7, 9, v2: test_sysfs_moves.py.)
"""

import pytest

from harness.scenario.verdict import Findings

from ._sysfs import AT_MOUNT, expect_rows, made, require

pytestmark = [pytest.mark.vm, pytest.mark.area("sysfs-views")]


@pytest.mark.behaviour(1)
def test_setns_alone_keeps_the_mounters_sysfs_view_remount_shows_the_joined_netns(agent, observe):
    """1. A child setns()'s into B (a holder that unshared it and created dummy nshv1b) and
    reads /sys; then does what `ip netns exec` does (unshare NEWNS, remount sysfs) and
    reads again. Oracles: sysfs readdir vs RTM_GETLINK in init before the setns (stale
    view) and vs the list B's creator got from RTM_GETLINK inside B (remounted view);
    RTM_GETLINK and /proc/thread-self/net/dev after the setns show the thread is in B;
    sysfs ifindex vs netlink index. Bugs: kernfs filtering by the reader's netns -> "/sys/
    class/net after setns(B) without remounting sysfs gave [lo, nshv1b]; expected [eth0,
    eth1, lo] (...)"; sysfs_init_fs_context() tagging with init_net -> "/sys/class/net
    after unshare(NEWNS) + sysfs remount in B gave [eth0, eth1, lo]; expected [lo, nshv1b]"."""
    r = observe("views", agent.sysfs_setns_vs_remount())
    b, s, m = r["b"], r["after_setns"], r["after_remount"]
    made(b, "nshv1b", "B")
    require(s["netns"] == b["inode"], "setns into B",
            f"returned 0 but the thread's netns is {s['netns']}, not B's {b['inode']}")  # fmt: skip
    init, in_b = "init; init's RTM_GETLINK list", "B; B's creator's RTM_GETLINK list"
    f = Findings()
    expect_rows(f, [
        (s["netlink"], b["names"], "RTM_GETLINK after setns(B)", "the thread is in B"),
        (s["proc_net_dev"], b["names"], "/proc/thread-self/net/dev after setns(B)",
         "procfs shows the thread's netns"),
        (s["class_net"], r["init_netlink"], "/sys/class/net after setns(B) without remounting "
         "sysfs", f"{AT_MOUNT} ({init})"),
        (m["class_net"], b["names"], "/sys/class/net after unshare(NEWNS) + sysfs remount in "
         "B", f"{AT_MOUNT} ({in_b})"),
        (m["virtual_net"], b["names"], "/sys/devices/virtual/net after the remount in B",
         f"{AT_MOUNT} ({in_b}: all of B's devices are virtual)"),
        (m["ifindex_sysfs"], str(m["ifindex_netlink"]), "nshv1b's ifindex file after the "
         "remount", "RTM_GETLINK's index of nshv1b in B"),
    ])  # fmt: skip
    f.check("nshv1b" not in s["virtual_net"], "/sys/devices/virtual/net after setns(B) "
            f"without a remount lists B's nshv1b: {s['virtual_net']} ({AT_MOUNT})")  # fmt: skip
    f.done()


@pytest.mark.behaviour(2)
def test_each_netns_has_its_own_sysfs_superblock_shared_by_its_mounts(agent, observe):
    """2. In a private mount ns: sysfs mounted from init, twice from B, once from C, beside
    the host /sys. Oracles: stat() st_dev; mountinfo major:minor; the class/net each mount
    lists vs RTM_GETLINK inside init/B/C. Bugs: kernfs_test_super() ignoring the ns tag
    (one superblock for all) -> "sysfs mounted from B has st_dev 0:23, the host /sys's;
    expected a superblock of its own"; a superblock per mount -> "st_dev of the 2nd sysfs
    mounted from B gave 0:30; expected 0:29 (...)"."""
    r = observe("mounts", agent.sysfs_superblocks())
    made(r["b_made"], "nshv2b", "B")
    made(r["c_made"], "nshv2c", "C")
    b, c = r["b_made"]["names"], r["c_made"]["names"]
    f = Findings()
    mounts = {"init": ("init_net", "init_net", r["init_netlink"]), "b1": ("B", "B", b),
              "b2": ("B (2nd mount)", "B", b), "c": ("C", "C", c)}  # fmt: skip
    for key, (label, ns, names) in mounts.items():
        mnt = r[key]
        f.errno(mnt["mount"], None, call=f"mount sysfs as root while in {ns}",
                why="root may mount a sysfs in any netns owned by init_user_ns")  # fmt: skip
        expect_rows(f, [
            (mnt["class_net"], names, f"class/net of the sysfs mounted from {label}",
             f"{AT_MOUNT} (RTM_GETLINK inside {ns})"),
            (mnt["mountinfo"], mnt["st_dev"], f"mountinfo's dev of the mount from {label}",
             "mountinfo and stat() name the same superblock"),
        ])  # fmt: skip
    host, i, b1, b2, c = (r[k]["st_dev"] for k in ("host", "init", "b1", "b2", "c"))
    one = "one superblock per (sysfs, netns)"
    expect_rows(f, [
        (i, host, "st_dev of a sysfs mounted from init_net", f"{one}: the host /sys's"),
        (b2, b1, "st_dev of the 2nd sysfs mounted from B", f"{one}: the 1st mount's"),
    ])  # fmt: skip
    f.check(b1 != host, f"sysfs mounted from B has st_dev {b1}, the host /sys's; expected a "
            "superblock of its own (kernfs_test_super() compares the ns tag)")  # fmt: skip
    shared = "the host /sys" if c == host else "the mounts from B"
    f.check(c not in (host, b1), f"sysfs mounted from C has st_dev {c}, shared with "
            f"{shared}; expected a superblock of its own")  # fmt: skip
    f.done()


@pytest.mark.behaviour(3)
def test_proc_pid_root_sys_shows_the_view_that_process_mounted(agent, observe):
    """3. From the initial namespaces, /proc/PID/root/sys/class/net of holder R (unshared net
    + mnt, created nshv3r, remounted /sys as "nshv3") and of holder S (unshared only net,
    created nshv3s). Oracles: readdir through the magic root link vs R's own RTM_GETLINK
    list (and init's for S); R's ifindex file vs R's RTM_GETLINK index; R's mountinfo.
    Bug: sysfs tagged with init at mount -> "/proc/<R>/root/sys/class/net read from init
    gave [eth0, eth1, lo]; expected [lo, nshv3r] (...)"."""
    r = observe("views", agent.sysfs_proc_root_view())
    rr, s = r["r"], r["s"]
    made(rr, "nshv3r", "R's netns")
    made(s, "nshv3s", "S's netns")
    mnt = rr["sys_mount"] or {}
    f = Findings()
    expect_rows(f, [
        (rr["via_root"], rr["names"], "/proc/<R>/root/sys/class/net read from init",
         f"{AT_MOUNT}: R mounted it inside its netns (R's RTM_GETLINK list)"),
        (rr["ifindex_via_root"], str(rr["index"]), "/proc/<R>/root/sys/class/net/nshv3r/"
         "ifindex", "R's RTM_GETLINK index of nshv3r"),
        ([mnt.get("fstype"), mnt.get("source")], ["sysfs", "nshv3"], "R's mountinfo for /sys "
         "(fstype, source)", "R remounted /sys"),
        (s["via_root"], r["init_netlink"], "/proc/<S>/root/sys/class/net (S only unshared "
         "its netns)", f"{AT_MOUNT}: S shares init's /sys (init's RTM_GETLINK list)"),
    ])  # fmt: skip
    f.done()


@pytest.mark.behaviour(8)
def test_same_name_in_two_netns_is_two_devices_each_view_its_own(agent, observe):
    """8. Dummy nshv8 made in init with mtu 1400 and, by a holder from inside B, in B with
    mtu 1300. Oracles per netns: RTM_GETLINK, SIOCGIFINDEX, sysfs (B's: remounted inside B)
    and /proc/net/dev, each vs what that netns's creator got back from RTM_GETLINK (index,
    MAC) and the mtu it set. Bug: a name lookup against init_net -> "creating dummy nshv8
    inside B while init has one failed with EEXIST; expected success (...)" or
    "SIOCGIFINDEX(nshv8) in B gave 5; expected 2 (...)"."""
    r = observe("views", agent.sysfs_same_name_two_netns())
    f = Findings()
    f.errno(r["b_made"]["errno"], None, call="creating dummy nshv8 inside B while init has "
            "one", why="device names are per netns")  # fmt: skip
    if r["b"] is None:
        f.done()
    for key, w, mtu in (("init", "init", 1400), ("b", "B", 1300)):
        ref, v = r[f"{key}_made"], r[key]
        nl = {"index": ref["index"], "address": ref["address"], "mtu": mtu}
        sysfs = {"ifindex": str(ref["index"]), "address": ref["address"], "mtu": str(mtu)}
        expect_rows(f, [
            (v["netlink"], nl, f"RTM_GETLINK of nshv8 in {w}", f"{w}'s nshv8 as made there"),
            (v["ioctl_ifindex"], ref["index"], f"SIOCGIFINDEX(nshv8) in {w}",
             f"the ioctl resolves the name in {w}"),
            (v["sysfs"], sysfs, f"ifindex/address/mtu files of nshv8 in {w}'s sysfs view",
             f"{AT_MOUNT} ({w}'s nshv8 as made there)"),
            (v["proc_net_dev"], True, f"/proc/net/dev in {w} lists nshv8", "it exists there"),
        ])  # fmt: skip
    i, b = r["init_made"], r["b_made"]
    f.check(i["address"] != b["address"] and i["index"] != b["index"], "the two nshv8 share "
            f"their MAC or ifindex: init {i}, B {b}; expected two distinct devices")  # fmt: skip
    f.done()
