"""Who may mount a sysfs, what a mount shows once its netns is gone, and the mount `ip netns
exec` makes (catalogue items 4, 5, 10). References: RTM_GETLINK inside the namespace, the
netns's destruction seen through rtnetlink (peer device, nsid), mountinfo."""

import pytest

from harness.scenario.gates import needs_config
from harness.scenario.verdict import BehaviourChanged, Findings

from ._sysfs import AT_MOUNT, expect_rows, require

pytestmark = [pytest.mark.vm, pytest.mark.area("sysfs-views")]


@pytest.mark.behaviour(4)
def test_sysfs_mount_needs_cap_sys_admin_over_the_netns_owner(agent, nsh_kernel, observe):
    """4. uid 65534 becomes root of its own user + mount ns: (a) still in init_net (owned by
    init_user_ns), mounting sysfs must fail EPERM while a tmpfs mount (control) works; (b)
    in a netns its user ns owns, it must succeed and show that netns. Oracles: mount(2)
    errno; mountinfo at the target; (b) class/net vs RTM_GETLINK in that netns. Bugs:
    net_current_may_mount() checking the caller's user ns -> "mount sysfs as root of uid
    65534's user ns, in init_net succeeded; expected EPERM (...)"; checking capable() ->
    "... in a netns that user ns owns failed with EPERM; expected success (...)"."""
    needs_config(nsh_kernel, "USER_NS", "a user namespace owning a netns")
    r = observe("mounts", agent.sysfs_mount_permission())
    a, b = r["userns_in_init_netns"], r["userns_owning_netns"]
    require(a["uid"] == 0 and a["in_init_netns"], "become root of a user ns in init_net", a)
    require(b["uid"] == 0 and not b["in_init_netns"], "become root of a user ns owning a "
            "new netns", b)  # fmt: skip
    f = Findings()
    f.errno(a["mount_sysfs"], "EPERM", call="mount sysfs as root of uid 65534's user ns, in "
            "init_net", why="sysfs needs CAP_SYS_ADMIN over the netns owner's user ns "
            "(init_user_ns); a tmpfs mount in the same mount ns succeeded")  # fmt: skip
    if a["mount_sysfs"]:
        f.expect(a["mount_at_target"], None, what="mountinfo at the target after the "
                 "refused mount", why="nothing was mounted")  # fmt: skip
    f.errno(b["mount_sysfs"], None, call="mount sysfs as root of uid 65534's user ns in a "
            "netns that user ns owns", why="it has CAP_SYS_ADMIN over the netns owner")  # fmt: skip
    if b["mount_sysfs"] is None:
        expect_rows(f, [
            ((b["mount_at_target"] or {}).get("fstype"), "sysfs", "mountinfo's fstype at the "
             "target after the allowed mount", "it succeeded"),
            (b["class_net"], b["netlink"], "class/net of that sysfs",
             f"{AT_MOUNT} (RTM_GETLINK in that netns)"),
        ])  # fmt: skip
    f.done()


@pytest.mark.behaviour(5)
def test_sysfs_mount_does_not_keep_its_netns_alive_and_then_shows_no_devices(
    agent, nsh_kernel, observe
):
    """5. A grandchild unshares netns B (dummy nshv5b, veth nshv5p with peer nshv5i in
    init), mounts a sysfs from B in our private mount ns, exits. Oracles for "B died": the
    init-side peer vanishes (RTM_GETLINK poll, RTM_DELLINK), nsid 4105 leaves the
    RTM_GETNSID table (RTM_DELNSID). For the mount: readdir (class/net, devices/virtual/net,
    a dirfd opened before), read() on an fd opened before, mountinfo. Bugs:
    net_grab_current_ns() taking a full reference -> "netns B was not destroyed within 5 s
    ... only a sysfs mount tagged with it remained"; kernfs nodes left behind -> "class/net
    of the B-tagged sysfs mount after B died gave [lo]; expected [] (...)"."""
    needs_config(nsh_kernel, "VETH", "a veth peer in init as the destruction oracle")
    r = observe("mount", agent.sysfs_mount_outlives_netns(timeout=5.0))
    before, after = r["before"], r["after"]
    require(before["peer_in_init"] and 4105 in before["nsids"], "make B (veth peer in init, "
            "nsid 4105)", before)  # fmt: skip
    f = Findings()
    f.expect(before["class_net"], before["netlink_in_b"], what="class/net of the sysfs "
             "mounted from B while B lived", why=f"{AT_MOUNT} (RTM_GETLINK inside B)")  # fmt: skip
    types = sorted(e["type"] for e in after["events"])
    died = {"peer nshv5i gone from init": after["peer_gone_after_s"] is not None,
            "nsid 4105 gone from the id table": 4105 not in after["nsids"],
            "RTM_DELNSID 4105 and RTM_DELLINK nshv5i": types == ["DELLINK", "DELNSID"]}  # fmt: skip
    if not any(died.values()):
        raise BehaviourChanged(
            "netns B was not destroyed within 5 s of its last process exiting, though only a "
            f"sysfs mount tagged with it remained (peer nshv5i still in init, nsids "
            f"{after['nsids']}, no RTM_DELNSID/DELLINK); a sysfs mount holds only a passive "
            "reference on its netns"
        )
    observe("destruction_signs", died)  # (whether they agree is item 22's verdict: a veth
    # that keeps its peer must not read as a sysfs bug)
    dead = "a dead netns's devices are gone: the mount lists none"
    expect_rows(f, [
        (after["class_net"], [], "class/net of the B-tagged sysfs mount after B died", dead),
        (after["virtual_net"], [], "its devices/virtual/net after B died", dead),
        (after["via_old_dirfd"], [], "readdir of class/net through a dirfd opened while B "
         "lived", dead),
        (after["old_fd_read"], "ENODEV", "read() of class/net/lo/ifindex through an fd opened "
         f"while B lived (it read {before['old_fd_read']!r} then)", "the node went with lo"),
        ((after["mount"] or {}).get("fstype"), "sysfs", "mountinfo at the mount point after B "
         "died", "the mount itself stays"),
    ])  # fmt: skip
    f.check(isinstance(after["top_dirs"], list) and "devices" in after["top_dirs"],
            f"the B-tagged mount's root lists {after['top_dirs']} after B died; the untagged "
            "parts of sysfs (devices, class, ...) stay")  # fmt: skip
    f.done()


@pytest.mark.behaviour(10)
def test_ip_netns_exec_mounts_sysfs_named_after_the_netns_hiding_sys_submounts(
    agent, netns, observe
):
    """10. A named netns (a bind mount in /run/netns, as `ip netns add` makes) and, in a
    private mount ns, a tmpfs covering an empty sysfs directory; then one `ip netns exec
    NAME sh -c ...`. Oracles: mountinfo inside (what findmnt reads: /sys's source and
    fstype, no submount); st_dev of the covered path vs /sys inside; class/net inside vs
    RTM_GETLINK in the netns. Bugs: umount2(MNT_DETACH) leaving child mounts -> "mounts
    under /sys inside ip netns exec ... gave [.., {/sys/kernel/debug tmpfs}]"; the tag bug
    of item 1 -> "/sys/class/net inside gave [eth0, eth1, lo]; expected [lo]"."""
    ns = netns("nshv10")
    r = observe("exec", agent.sysfs_ip_netns_exec(name=ns.name))
    out, inside = r["outside"], r["inside"]
    covered = any(m["source"] == "nshv10sub" for m in out["sys_mounts"])
    require(covered and out["sub_dev"] != out["sys_dev"], f"cover {r['sub']} with a tmpfs", out)
    f = Findings()
    f.expect(r["rc"], 0, what=f"exit status of `ip netns exec {ns.name} sh -c ...`",
             why=f"it joins the netns and remounts /sys (stderr: {r['stderr']!r})")  # fmt: skip
    sysfs = [{"target": "/sys", "fstype": "sysfs", "source": ns.name}]
    expect_rows(f, [
        (inside["sys_mounts"], sysfs, f"mounts under /sys inside ip netns exec (outside: "
         f"{out['sys_mounts']})", "iproute2 detaches /sys with its submounts and mounts a "
         "sysfs whose source is the netns name"),
        (inside["sub_dev"], inside["sys_dev"], f"st_dev of {r['sub']} inside",
         "the covering tmpfs went with the old /sys"),
        (inside["class_net"], agent.link_names(ns.ctx), "/sys/class/net inside",
         f"{AT_MOUNT} (RTM_GETLINK in {ns.name})"),
    ])  # fmt: skip
    f.done()
