"""C. Keeping a namespace alive with no process in it: bind mounts and open fds."""

import pytest

from harness.agent import CHILD

pytestmark = [pytest.mark.vm, pytest.mark.area("lifetime")]


def test_bind_mount_keeps_netns_and_devices_after_creator_exits(agent, observe, fresh):
    path = "/run/nsh-keep-a"
    made = observe("created", agent.call("bind_keepalive", path=path, dummy="keep0"))
    try:
        assert made["creator_gone"]
        mi = observe("mountinfo", agent.call("mountinfo_for", path=path))
        assert mi["fstype"] == "nsfs" and mi["root"] == f"net:[{made['inode']}]"
        r = agent.call("setns_view", ctx=CHILD, path=path)["after"]
        observe("rejoined", r)
        assert r["netns_inode"] == made["inode"]
        want = sorted(fresh | {"keep0"})
        assert sorted(r["netlink"]) == want and r["proc_net_dev"] == want
        sr = observe("stat_readlink", agent.call("stat_and_readlink", path=path))
        assert sr["inode"] == made["inode"] and sr["readlink"] == "EINVAL"  # not a symlink
    finally:
        agent.call("sh", cmd=f"umount {path}; rm -f {path}")


def test_last_umount_destroys_the_namespace(agent, observe):
    path = "/run/nsh-keep-b"
    agent.call("bind_keepalive", path=path, dummy="keep1")
    agent.call("sh", cmd=f"ip link add nshkp type veth peer name nshkq netns {path}")
    assert agent.call("ifindex", name="nshkp")
    agent.call("sh", cmd=f"umount {path} && rm {path}")
    gone = observe("peer_gone_after_s", agent.call("wait_gone", ifname="nshkp"))
    assert gone is not None, "veth peer still in init: the namespace was not destroyed"


def test_open_fd_keeps_it_alive_and_closing_destroys(agent, netns, observe):
    a = netns(anonymous=True)
    a.sh("ip link add nshfd type dummy")
    agent.call("sh", cmd=f"ip link add nshfp type veth peer name nshfq netns {a.path}")
    assert a.path.startswith("/proc/") and "/fd/" in a.path  # no mount, only an fd
    r = agent.call("setns_view", ctx=CHILD, path=a.path)["after"]
    assert r["netns_inode"] == a.inode and "nshfd" in r["netlink"]
    observe("destroy_wait_s", a.destroy())
    gone = observe("peer_gone_after_s", agent.call("wait_gone", ifname="nshfp"))
    assert gone is not None


def test_ip_netns_add_and_harness_namespaces_interchangeable(agent, netns, observe):
    agent.call("sh", cmd="ip netns add nship")
    try:
        ip_ino = int(
            agent.call("sh", cmd="ip netns exec nship stat -L -c %i /proc/self/ns/net")["out"]
        )
        r = agent.call("setns_view", ctx=CHILD, path="/run/netns/nship")["after"]
        assert r["netns_inode"] == ip_ino
    finally:
        agent.call("sh", cmd="ip netns del nship")
    ours = netns("nshours")
    ours.sh("ip link add nshod type dummy")
    listed = agent.call("sh", cmd="ip netns list")["out"]
    out = agent.call("sh", cmd="ip netns exec nshours ip -o link")["out"]
    seen = int(agent.call("sh", cmd="ip netns exec nshours stat -L -c %i /proc/self/ns/net")["out"])
    observe("ip_netns_view", {"list": listed, "inode": seen})
    assert "nshours" in listed and "nshod" in out and seen == ours.inode


def test_ip_netns_del_on_harness_namespace_destroys_it(agent, observe):
    h = agent.call("netns_create", name="nshdel")
    agent.call("sh", cmd="ip link add nshdp type veth peer name nshdq netns nshdel")
    agent.call("sh", cmd="ip netns del nshdel")
    agent.call("netns_forget", name="nshdel")
    gone = observe("peer_gone_after_s", agent.call("wait_gone", ifname="nshdp"))
    assert gone is not None
    assert not agent.call("nsid_alive", nsid=h["nsid"])
