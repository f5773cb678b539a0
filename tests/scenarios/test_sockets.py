"""D. Sockets per namespace: the socketat() idiom (setns -> socket -> setns back)."""

import pytest

from harness.agent import CHILD

from .conftest import need

pytestmark = [pytest.mark.vm, pytest.mark.area("sockets")]


def test_socketat_sockets_stay_in_their_namespace(agent, netns, observe):
    b, c = netns(), netns()
    r = observe("socketat", agent.call("socketat_probe", ctx=CHILD, paths=[None, b.path, c.path]))
    assert r["home_inode"] == r["home_before"]  # the thread came back home
    inodes = [s["ns_inode"] for s in r["sockets"]]
    assert len(set(inodes)) == 3 and inodes[1:] == [b.inode, c.inode]
    for s in r["sockets"]:
        assert s["sk_netns_inode"] == s["ns_inode"]  # SIOCGSKNS
        if s["cookie"] is not None:  # SO_NETNS_COOKIE (5.14+)
            assert s["cookie"] == s["reference_cookie"]
        # each ns's /proc/<pid>/net/tcp lists the socket's port only in its own ns
        assert s["listed_in"][s["ns"]] is True
        assert [k for k, v in s["listed_in"].items() if v] == [s["ns"]]
    cookies = [s["cookie"] for s in r["sockets"]]
    if None not in cookies:
        assert len(set(cookies)) == 3


def test_same_address_and_port_in_two_namespaces(agent, netns, observe):
    b, c = netns(), netns()
    for ns in (b, c):
        ns.sh("ip link set lo up")
    r = observe(
        "binds", agent.call("same_port_probe", ctx=CHILD, paths=[b.path, c.path], port=8123)
    )
    assert r[b.path] is None and r[c.path] is None
    assert r["again_in_first"] == "EADDRINUSE"  # control: same ns still conflicts


def test_tcp_and_udp_over_veth_reach_the_right_socket(agent, netns, observe):
    b, c, d = netns(), netns(), netns()
    agent.call(
        "sh", cmd=f"ip link add nshta netns {b.path} type veth peer name nshtb netns {c.path}"
    )
    b.sh("ip addr add 10.88.0.1/24 dev nshta && ip link set nshta up")
    c.sh("ip addr add 10.88.0.2/24 dev nshtb && ip link set nshtb up")
    d.sh("ip link set lo up")
    r = observe(
        "traffic",
        agent.call(
            "veth_traffic_probe",
            ctx=CHILD,
            client_ns=b.path,
            server_ns=c.path,
            server_ip="10.88.0.2",
            decoy_ns=d.path,
        ),
    )
    assert (r["tcp_data"], r["tcp_peer"]) == ("nsh-tcp", "10.88.0.1")
    assert (r["udp_data"], r["udp_peer"]) == ("nsh-udp", "10.88.0.1")
    assert not r["decoy_tcp_got"] and not r["decoy_udp_got"]


def test_concurrent_threads_sockets_land_in_intended_namespace(agent, netns, observe):
    spaces = [netns() for _ in range(3)]
    r = agent.call(
        "concurrent_socket_probe",
        ctx=CHILD,
        paths=[s.path for s in spaces],
        threads=8,
        iterations=40,
        wait=120,
    )
    observe("concurrency", {"sockets": r["sockets"], "bad": r["bad"][:10]})
    assert r["sockets"] == 320
    assert r["bad"] == []
    assert r["home_ns_ok"]


def test_new_namespace_loopback_starts_down(agent, netns, observe):
    b = netns()
    r = observe("lo", b.call("lo_probe", sysfs=True))
    assert r["before"]["netlink_up"] is False
    assert int(r["before"]["sysfs_flags"]["flags"], 16) & 1 == 0  # IFF_UP clear in sysfs
    assert r["before"]["sysfs_flags"]["operstate"] == "down"
    assert r["before"]["connect"] == "ENETUNREACH"
    assert r["after"]["netlink_up"] is True
    assert r["after"]["connect"] == "ECONNREFUSED"  # reachable now, nobody listening


def test_abstract_unix_names_are_per_namespace(agent, netns, observe):
    b, c = netns(), netns()
    r = observe("abstract", agent.call("abstract_unix_probe", ctx=CHILD, ns_a=b.path, ns_b=c.path))
    assert r["connect_same_ns"] is None
    assert r["connect_other_ns"] == "ECONNREFUSED"
    assert r["bind_same_name_other_ns"] is None


def test_so_netns_cookie_probe(agent, nsh_kernel, netns, observe):
    """SO_NETNS_COOKIE exists from 5.14: probed, and skipped (not failed) when absent."""
    b = netns()
    r = agent.call("socketat_probe", ctx=CHILD, paths=[b.path])
    cookie = observe("cookie", r["sockets"][0]["cookie"])
    need(cookie is not None, f"kernel {nsh_kernel.release} has no SO_NETNS_COOKIE (< 5.14)")
    assert cookie == r["sockets"][0]["reference_cookie"] and cookie > 0
