"""B. setns() and /proc/<pid>/ns: identities, argument checks, per-thread switching."""

import pytest

from harness.agent import CHILD, GuestOpError
from harness.guest.nsops import CLONE

from .conftest import need

pytestmark = [pytest.mark.vm, pytest.mark.area("setns")]


CONFIG_FOR = {
    "net": "NET_NS",
    "uts": "UTS_NS",
    "ipc": "IPC_NS",
    "pid": "PID_NS",
    "user": "USER_NS",
    "cgroup": "CGROUPS",
    "time": "TIME_NS",
    "mnt": None,
}


def test_every_namespace_file_agrees_with_itself(agent, nsh_kernel, observe):
    ns = observe("proc_self_ns", agent.call("nstypes"))
    for kind, opt in CONFIG_FOR.items():
        if opt is None or nsh_kernel.config.get(opt) == "y":
            assert kind in ns, f"/proc/self/ns/{kind} missing though CONFIG_{opt}=y"
    for name, v in ns.items():
        base = name.replace("_for_children", "")
        assert v["link"] == f"{base}:[{v['inode']}]", name  # readlink agrees with stat
        assert v["nstype"] == CLONE[base], name  # NS_GET_NSTYPE agrees with the type
    assert ns["pid_for_children"]["inode"] == ns["pid"]["inode"]


def test_setns_with_zero_and_matching_nstype_enters(agent, netns, observe, fresh):
    b = netns()
    b.sh("ip link add nshin type dummy")
    for nstype in (0, CLONE["net"]):
        r = agent.call("setns_view", ctx=CHILD, path=b.path, nstype=nstype)
        observe(f"nstype_{nstype:#x}", r["after"])
        assert r["after"]["netns_inode"] == b.inode
        assert sorted(r["after"]["netlink"]) == sorted(fresh | {"nshin"})
        assert r["after"]["proc_net_dev"] == sorted(fresh | {"nshin"})


def test_setns_argument_errors(agent, netns, observe):
    b = netns()
    r = observe("errnos", agent.call("setns_errors", ctx=CHILD, path=b.path))
    assert r["mismatched_nstype"] == "EINVAL"
    assert r["regular_file"] == "EINVAL"
    assert r["memfd"] == "EINVAL"
    assert r["bad_fd"] == "EBADF"
    assert r["matching_nstype"] is None


def test_setns_unprivileged_is_eperm(agent, netns, observe):
    b = netns()
    r = observe("nobody", agent.call("setns_unprivileged", ctx=CHILD, path=b.path))
    assert r["uid"] == 65534
    assert r["errno"] == "EPERM"
    assert r["unchanged"]


def test_netns_switch_is_per_thread(agent, netns, observe, fresh):
    b, c = netns(), netns()
    b.sh("ip link add nsht_b type dummy")
    c.sh("ip link add nsht_c type dummy")
    r = observe("threads", agent.call("thread_netns", ctx=CHILD, paths=[b.path, c.path]))
    tb, tc = r["threads"]
    assert (tb["thread_ns"], tc["thread_ns"]) == (b.inode, c.inode)
    want_b, want_c = sorted(fresh | {"nsht_b"}), sorted(fresh | {"nsht_c"})
    assert tb["thread_dev"] == want_b and tc["thread_dev"] == want_c
    assert sorted(tb["netlink"]) == want_b and sorted(tc["netlink"]) == want_c
    # /proc/self/ns/net is the thread-group leader's, which never switched
    assert tb["process_ns"] == tc["process_ns"] == r["main_ns"]
    assert r["main_ns"] not in (b.inode, c.inode)


def test_uts_and_ipc_through_setns(agent, nsholder, observe):
    key = 0x4E5348
    h = nsholder(["uts", "ipc"], hostname="nsh-uts-b")
    h.call("msg_create", key=key)  # a SysV queue made inside the held IPC namespace
    init = observe("init", agent.call("ipc_view", key=key))
    joined = observe("joined", h.call("ipc_view", key=key))  # setns into both, then look
    assert init["hostname"] == "nsguest" and joined["hostname"] == "nsh-uts-b"
    assert not init["has_queue"] and init["msgget"] == "ENOENT"
    assert joined["has_queue"] and joined["msgget"] is None
    assert (joined["uts_inode"], joined["ipc_inode"]) == (h.inodes["uts"], h.inodes["ipc"])
    assert agent.call("sh", cmd="hostname")["out"].strip() == "nsguest"


def test_pidfd_setns_several_namespaces_all_or_nothing(agent, observe):
    try:
        r = observe("pidfd", agent.call("pidfd_setns_probe", ctx=CHILD))
    except GuestOpError as e:
        need(e.errno not in ("ENOSYS",), "kernel has no pidfd_open (< 5.3)")
        raise
    need(r["both"] not in ("EBADF",), "setns() does not take a pidfd on this kernel (< 5.8)")
    assert r["zero_flags"] == "EINVAL"
    assert r["partial"] == "EINVAL"
    assert r["after_partial"] == r["home"]  # nothing changed
    assert r["both"] is None
    assert r["after"] == r["target"]  # net and uts switched together
    assert r["hostname_after"] == "nsh-pidfd"
