"""E. Devices across namespaces: veth, macvlan, moving devices, device nodes."""

import pytest

pytestmark = [pytest.mark.vm, pytest.mark.area("devices")]


def test_veth_across_namespaces_delete_one_end_deletes_peer(agent, netns, observe):
    b, c = netns(), netns()
    agent.call(
        "sh", cmd=f"ip link add nshva netns {b.path} type veth peer name nshvb netns {c.path}"
    )
    lb = next(x for x in b.call("links") if x["ifname"] == "nshva")
    lc = next(x for x in c.call("links") if x["ifname"] == "nshvb")
    observe("veth", {"b": lb, "c": lc})
    assert lb["kind"] == lc["kind"] == "veth"
    assert lb["link_netnsid"] is not None and lc["link_netnsid"] is not None
    assert "nshvb" in c.views()["class_net"]
    b.sh("ip link del nshva")
    assert "nshvb" not in c.views()["class_net"]
    assert "nshvb" not in [x["ifname"] for x in c.call("links")]


def test_macvlan_on_lower_device_in_another_namespace(agent, netns, observe):
    b = netns()
    agent.call(
        "sh",
        cmd="ip link add nshlow type dummy && ip link set nshlow up && "
        "ip link add nshmac link nshlow type macvlan mode bridge && "
        f"ip link set nshmac netns {b.path}",
    )
    try:
        mv = observe("macvlan", next(x for x in b.call("links") if x["ifname"] == "nshmac"))
        assert mv["kind"] == "macvlan" and mv["link_netnsid"] is not None
        assert "nshmac" in b.views()["class_net"]
        assert "nshmac" not in agent.call("views")["class_net"]
        agent.call("sh", cmd="ip link del nshlow")  # deleting the lower removes the macvlan
        assert "nshmac" not in [x["ifname"] for x in b.call("links")]
        assert "nshmac" not in b.views()["class_net"]
    finally:
        agent.call("sh", cmd="ip link del nshlow 2>/dev/null; true")


def test_loopback_cannot_be_moved(agent, netns, observe):
    b = netns()
    err = observe("netlink_errno", agent.call("move_errno", ifname="lo", target=b.path))
    ip = observe("iproute2", agent.call("sh", cmd=f"ip link set dev lo netns {b.path}"))
    assert err == "EINVAL"
    # iproute2 prints strerror, or the kernel's extack text where it gives one (6.12:
    # "The interface netns is immutable." since dev->netns_local replaced NETIF_F_NETNS_LOCAL)
    assert ip["rc"] != 0
    assert "Invalid argument" in ip["err"] or "netns is immutable" in ip["err"], ip["err"]
    assert "lo" in agent.call("views")["class_net"]


def test_name_clash_on_move_unless_renamed(agent, netns, observe):
    b = netns()
    b.sh("ip link add nshcl type dummy")
    agent.call("sh", cmd="ip link add nshcl type dummy")
    try:
        clash = observe("clash", agent.call("move_errno", ifname="nshcl", target=b.path))
        assert clash == "EEXIST"
        renamed = agent.call("move_errno", ifname="nshcl", target=b.path, new_name="nshcl2")
        assert renamed is None
        assert {"nshcl", "nshcl2"} <= set(b.views()["class_net"])
    finally:
        agent.call("sh", cmd="ip link del nshcl 2>/dev/null; true")


def test_virtual_device_dies_with_its_namespace(agent, netns, observe):
    b = netns()
    agent.call("sh", cmd=f"ip link add nshgone type dummy && ip link set nshgone netns {b.path}")
    idx = next(x["index"] for x in b.call("links") if x["ifname"] == "nshgone")
    observe("ifindex_in_b", idx)
    b.destroy()
    assert "nshgone" not in agent.call("views")["class_net"]  # deleted, not returned to init
    assert agent.call("ifindex", name="nshgone") is None


def test_device_node_bind_mounted_into_container_mount_namespace(agent, nsholder, observe):
    ctr = nsholder(["mnt"])  # a container-like mount namespace, held by a guest process
    path = ctr.call("bind_device", root="/run/nsh-ctr", node="/dev/zero")
    inside = observe("inside", ctr.call("read_node", path=path))  # entered again, by setns
    outside = observe("outside", agent.call("read_node", path=path))
    assert inside["errno"] is None and inside["is_chr"] and inside["rdev"] == [1, 5]
    assert inside["read"] == "00" * 16 and inside["mnt_ns"] == ctr.inodes["mnt"]
    assert outside["errno"] == "ENOENT"  # absent in the initial mount namespace
