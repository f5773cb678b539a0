"""A. sysfs views: /sys/class/net is tagged, its view fixed by the mounter's netns."""

import pytest

from harness.agent import CHILD

pytestmark = [pytest.mark.vm, pytest.mark.area("sysfs-views")]


def test_fresh_sysfs_lists_exactly_the_namespace_devices(agent, netns, observe, fresh):
    b = netns()
    b.sh("ip link add nshd0 type dummy")
    v = observe("views_in_b", b.views())
    iproute = sorted(
        line.split(":")[1].strip().split("@")[0] for line in b.sh("ip -o link").out.splitlines()
    )
    want = sorted(fresh | {"nshd0"})
    assert v["class_net"] == want  # sysfs (remounted inside B)
    assert sorted(v["netlink"]) == want  # netlink via pyroute2
    assert iproute == want  # iproute2
    assert v["netns_inode"] == b.inode
    init = agent.call("views")
    assert "nshd0" not in init["class_net"] and "eth0" in init["class_net"]


def test_view_is_fixed_at_mount_not_by_reader(agent, netns, observe, fresh):
    b = netns()
    b.sh("ip link add nshd1 type dummy")
    r = observe("setns_without_remount", agent.call("setns_view", ctx=CHILD, path=b.path))
    # half 1: after setns the caller is in B (netlink and /proc/thread-self/net agree) ...
    assert r["after"]["netns_inode"] == b.inode
    assert sorted(r["after"]["netlink"]) == sorted(fresh | {"nshd1"})
    assert r["after"]["proc_net_dev"] == sorted(fresh | {"nshd1"})
    # half 2: ... but the sysfs it did not remount still shows the initial namespace.
    assert r["after"]["class_net"] == r["before"]["class_net"]
    assert "eth0" in r["after"]["class_net"] and "nshd1" not in r["after"]["class_net"]


def test_same_name_in_two_namespaces_each_view_its_own(agent, netns, observe):
    b = netns()
    agent.call(
        "sh",
        cmd="ip link add nshsame type dummy && ip link set nshsame mtu 1400 "
        "address 02:00:00:00:00:01",
    )
    try:
        b.sh(
            "ip link add nshsame type dummy && ip link set nshsame mtu 1300 "
            "address 02:00:00:00:00:02"
        )
        attrs = ["ifindex", "address", "mtu"]
        init_sys = agent.call("sysfs_attrs", ifname="nshsame", attrs=attrs)
        b_sys = b.call("sysfs_attrs", sysfs=True, ifname="nshsame", attrs=attrs)
        init_nl = next(x for x in agent.call("links") if x["ifname"] == "nshsame")
        b_nl = next(x for x in b.call("links") if x["ifname"] == "nshsame")
        observe("init", {"sysfs": init_sys, "netlink": init_nl})
        observe("b", {"sysfs": b_sys, "netlink": b_nl})
        assert (init_sys["mtu"], b_sys["mtu"]) == ("1400", "1300")
        assert (init_sys["address"], b_sys["address"]) == ("02:00:00:00:00:01", "02:00:00:00:00:02")
        assert (
            int(init_sys["ifindex"]) == init_nl["index"] and int(b_sys["ifindex"]) == b_nl["index"]
        )
        assert (init_nl["mtu"], b_nl["mtu"]) == (1400, 1300)
    finally:
        agent.call("sh", cmd="ip link del nshsame")


def test_moved_device_leaves_source_view_and_appears_in_target(agent, netns, observe):
    b = netns()
    agent.call("sh", cmd="ip link add nshmv type dummy")
    before = agent.call("views")
    assert "nshmv" in before["class_net"] and "nshmv" in before["virtual_net"]
    agent.call("sh", cmd=f"ip link set dev nshmv netns {b.path}")
    after_init = observe("init_after_move", agent.call("views"))
    in_b = observe("b_after_move", b.views())
    for view in ("class_net", "virtual_net", "netlink", "proc_net_dev"):
        assert "nshmv" not in after_init[view], view
        assert "nshmv" in in_b[view], view


def test_statistics_follow_traffic_in_its_namespace(agent, netns, observe):
    b, c = netns(), netns()
    agent.call(
        "sh", cmd=f"ip link add nshsa netns {b.path} type veth peer name nshsb netns {c.path}"
    )
    b.sh("ip addr add 10.77.0.1/24 dev nshsa && ip link set nshsa up && ip link set lo up")
    c.sh("ip addr add 10.77.0.2/24 dev nshsb && ip link set nshsb up")
    s0 = int(
        c.call("sysfs_attrs", sysfs=True, ifname="nshsb", attrs=["statistics/rx_packets"])[
            "statistics/rx_packets"
        ]
    )
    sent = b.call("udp_burst", dst="10.77.0.2", port=9, count=20)
    sys_rx = int(
        c.call("sysfs_attrs", sysfs=True, ifname="nshsb", attrs=["statistics/rx_packets"])[
            "statistics/rx_packets"
        ]
    )
    nl = next(x for x in c.call("links") if x["ifname"] == "nshsb")
    proc = c.call("proc_net_dev")["nshsb"]["rx_packets"]
    observe(
        "rx_packets", {"before": s0, "sysfs": sys_rx, "netlink": nl["rx_packets"], "proc": proc}
    )
    assert sent == 20 and sys_rx - s0 >= 20
    assert abs(nl["rx_packets"] - sys_rx) <= 2 and abs(proc - sys_rx) <= 2
    assert "nshsb" not in agent.call("views")["class_net"]


def test_destroyed_namespace_devices_vanish_from_every_view(agent, netns, observe):
    b = netns()
    agent.call("sh", cmd=f"ip link add nshdv type veth peer name nshdvp netns {b.path}")
    assert "nshdv" in agent.call("views")["class_net"]
    waited = observe("destroy_wait_s", b.destroy())
    gone = observe("peer_gone_after_s", agent.call("wait_gone", ifname="nshdv"))
    assert gone is not None
    v = agent.call("views")
    for view in ("class_net", "virtual_net", "netlink", "proc_net_dev"):
        assert "nshdv" not in v[view], view
    assert waited["waited_s"] < 10
