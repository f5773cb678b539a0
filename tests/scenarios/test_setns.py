"""setns() rules (catalogue items 11-18).

Every attempt is judged on three things: the errno; the calling thread's /proc/thread-self/ns
inode (the target's after a success, unchanged after a failure); and the namespace's
*content* seen another way (the target's dummy in an RTM_GETLINK dump, the hostname, a SysV
queue, a marker file, the uid map, the clocks). Targets are made by holders that unshare()
into them — never through setns(), the path under test — and their inodes come from the
holder's /proc/<pid>/ns. Each test reports every broken expectation at once (Findings).
"""

import pytest

from harness.scenario.gates import needs_config, needs_version
from harness.scenario.verdict import Findings, SetupStepFailed, record

pytestmark = [pytest.mark.vm, pytest.mark.area("setns")]


def judge(f: Findings, r: dict, call: str, want, why: str, kind: str, target, view: str,
          joined=True, home=False) -> None:  # fmt: skip
    """One setns attempt: the errno; on success the thread's *kind* ns is *target* and the
    content view reads *joined*; on failure nothing changed (ns and view still at home)."""
    before, after, seen = r["before"], r["after"], r["view"]
    if r["errno"] != want:
        return f.errno(r["errno"], want, call=call, why=why)
    if want is None:
        f.check(after == target, f"{call} returned 0 but /proc/thread-self/ns/{kind} is {after},"
                f" not the target's {target} (before: {before})")  # fmt: skip
        f.check(seen == joined, f"{call} returned 0 and switched the {kind} ns inode, but "
                f"{view} gave {seen!r}; in the target it gives {joined!r}")  # fmt: skip
    else:
        f.check(after == before, f"{call} failed with {want} but the thread's {kind} ns "
                f"changed {before} -> {after} (a failed setns changes nothing)")  # fmt: skip
        f.check(seen == home, f"{call} failed with {want} but {view} gave {seen!r}, "
                f"expected {home!r} (nothing joined)")  # fmt: skip


MISMATCH = "nstype must be 0 or the type of the fd's namespace"
NOT_NS = "only an nsfs file or a pidfd can be joined"
BADF = "setns() takes the fd with fget(): there is no usable open file"


@pytest.mark.behaviour(11)
def test_setns_rejects_a_mismatched_nstype_and_non_namespace_fds(agent, observe):
    """11. Oracles: errno; /proc/thread-self/ns/<type>; the content another way (RTM_GETLINK
    lists the holder's dummy, gethostname(), msgget() finds its SysV queue). Controls: the
    same fds with nstype 0 / their own CLONE flag join, so an always-failing setns goes red
    too. Bug: loosening `if (flags && ns->ops->type != flags)` -> "setns(net fd,
    CLONE_NEWUTS) succeeded; expected EINVAL (nstype must be 0 or the type ...)"."""
    r = observe("setns", agent.setns_type_and_fd_errors())
    views = {
        "net": "RTM_GETLINK (lists the target's dummy nshs11?)",
        "uts": "gethostname() == the target's 'nshs11'",
        "ipc": "msgget() of the target's SysV queue (found?)",
    }
    fails = {
        "net fd, CLONE_NEWUTS": ("EINVAL", MISMATCH),
        "uts fd, CLONE_NEWIPC": ("EINVAL", MISMATCH),
        "ipc fd, CLONE_NEWNET": ("EINVAL", MISMATCH),
        "net fd, CLONE_NEWNET|CLONE_NEWUTS": ("EINVAL", MISMATCH + " (a bitmask is for pidfds)"),
        "regular file, 0": ("EINVAL", NOT_NS),
        "memfd, CLONE_NEWNET": ("EINVAL", NOT_NS),
        "/proc/self/ns directory fd, 0": ("EINVAL", NOT_NS),
        "O_PATH fd of the netns file, CLONE_NEWNET": ("EBADF", BADF + " (fget refuses O_PATH)"),
        "closed fd, 0": ("EBADF", BADF),
        "fd -1, 0": ("EBADF", BADF),
    }
    joins = {case: (None, "a matching nstype joins") for case in r["joins"]}
    f = Findings()
    for case, (want, why) in {**joins, **fails}.items():
        rec = record(r["joins"].get(case) or r["failures"][case], case)
        kind = case.split()[0] if case.split()[0] in views else "net"
        judge(f, rec, f"setns({case})", want, why, kind, r["target"][kind], views[kind])
    f.done()


@pytest.mark.behaviour(12)
def test_setns_netns_needs_cap_sys_admin_over_its_owner_and_in_the_callers_userns(
    agent, nsh_kernel, observe
):
    """12. B: netns owned by init_user_ns; U: user+net ns created by uid 65534. The two
    checks of netns_install() are isolated: root of U into B fails only the owner check;
    uid 65534 (U's owner, hence capable in U) into U's netns fails only the caller's-userns
    check. Oracles: errno, thread netns inode, RTM_GETLINK (target's dummy listed?). Bug:
    dropping `ns_capable(nsset->cred->user_ns, CAP_SYS_ADMIN)` -> "setns(netns of U) as uid
    65534 (owner of U, outside U) succeeded; expected EPERM (...)"."""
    needs_config(nsh_kernel, "USER_NS", "netns owned by a user namespace")
    r = observe("setns", agent.setns_net_caps())
    owner = "CAP_SYS_ADMIN over the netns's owner user ns is required (B's is init_user_ns)"
    caller = "CAP_SYS_ADMIN in the caller's own user ns is required as well"
    cases = {  # guest case: (target, errno, why)
        "root into B": ("B", None, "root is capable everywhere"),
        "seteuid(65534) into B": ("B", "EPERM", "euid 65534 has no capabilities"),
        "root without CAP_SYS_ADMIN into B": ("B", "EPERM", "CAP_SYS_ADMIN is required"),
        "root into U's netns": ("U_net", None, "init's root is capable over U"),
        "root of U into B": ("B", "EPERM", owner),
        "root of U into U's netns": ("U_net", None, "U's root is capable in U"),
        "uid 65534 (owner of U, outside U) into U's netns": ("U_net", "EPERM", caller),
    }
    f = Findings()
    for case, (tgt, want, why) in cases.items():
        who = case.partition(" into ")[0]
        name, dummy = ("B", "nshs12b") if tgt == "B" else ("U", "nshs12u")
        view = f"RTM_GETLINK (lists {name}'s dummy {dummy}?)"
        call = f"setns(netns of {name}) as {who}"
        judge(f, record(r["cases"][case], case), call, want, why, "net", r[tgt], view)
    f.done()


def judge_pidfd(f: Findings, r: dict, flags: str, want, why: str, target: dict, joined=(),
                of="") -> None:  # fmt: skip
    """setns(pidfd, flags): the errno; each namespace in *joined* is now the target's, every
    other one unchanged; gethostname() and RTM_GETLINK agree with the uts and net inodes."""
    call = f"setns(pidfd{of}, {flags})"
    if r["errno"] != want:
        return f.errno(r["errno"], want, call=call, why=why)
    did, a, b = ("returned 0" if want is None else f"failed with {want}"), r["after"], r["before"]
    for k in target:
        exp = target[k] if k in joined else b[k]
        state = "joined" if k in joined else "unchanged: setns is all-or-nothing"
        f.check(a[k] == exp, f"{call} {did} but the {k} ns is {a[k]}, expected {exp} ({state};"
                f" before: {b[k]})")  # fmt: skip
    host = "nshs13" if "uts" in joined else b["hostname"]
    f.check(a["hostname"] == host, f"{call} {did} but gethostname() says {a['hostname']!r},"
            f" expected {host!r}")  # fmt: skip
    listed = "lists" if a["sees_dummy"] else "does not list"
    f.check(a["sees_dummy"] == ("net" in joined), f"{call} {did} but RTM_GETLINK {listed} the"
            " target's dummy nshs13")  # fmt: skip


@pytest.mark.behaviour(13)
def test_pidfd_setns_rejects_bad_flags_and_exited_processes(agent, nsh_kernel, observe):
    """13. setns(pidfd of a holder with new net+uts): flags 0, -1, CLONE_VM, NET|CLONE_VM ->
    EINVAL and nothing changed; the pidfd of a zombie and of a reaped child -> ESRCH; the
    living holder's pidfd with NET, then NET|UTS, joins (controls). Oracles: errno; net and
    uts inodes; gethostname(); RTM_GETLINK. Bug: check_setns_flags() accepting 0 ->
    "setns(pidfd, 0) succeeded; expected EINVAL (...)"."""
    needs_version(nsh_kernel, (5, 8), "setns() with a pidfd")
    r = observe("pidfd", agent.pidfd_setns_rules(["bad_flags", "exited", "whole"], False))
    tgt, ex = r["target"], record(r["exited"], "a zombie and a reaped child")
    if ex["zombie_state"] != "Z":
        raise SetupStepFailed("make a zombie", f"the child's state is {ex['zombie_state']!r}")
    f = Findings()
    bad = "flags must be a non-empty set of CLONE_NEW* bits"
    for flags, rec in record(r["bad_flags"], "bad flags").items():
        judge_pidfd(f, rec, flags, "EINVAL", bad, tgt)
    gone = "an exited process has no namespaces left"
    judge_pidfd(f, ex["zombie"], "CLONE_NEWNET", "ESRCH", gone, tgt, of=" of a zombie")
    judge_pidfd(f, ex["reaped"], "CLONE_NEWNET", "ESRCH", gone, tgt, of=" of a reaped child")
    judge_pidfd(f, ex["living holder"], "CLONE_NEWNET", None, "a living process's netns",
                tgt, ("net",), " of the living holder")  # fmt: skip
    judge_pidfd(f, record(r["whole"], "whole"), "CLONE_NEWNET|CLONE_NEWUTS", None,
                "both namespaces are joined at once", tgt, ("net", "uts"))  # fmt: skip
    f.done()


@pytest.mark.behaviour(13, 18)
def test_pidfd_setns_is_all_or_nothing_when_a_later_type_fails(agent, nsh_kernel, observe):
    """13 (all-or-nothing), 18 (EUSERS). validate_nsset() checks user, mnt, uts, ipc, pid,
    cgroup, net, time in that order (kernel/nsproxy.c in 6.1 and 6.12) and commits only if
    all passed. A caller with a second thread asks for NET|UTS|TIME: net and uts are staged,
    then timens_install() refuses a multithreaded caller (EUSERS): nothing may have changed.
    The same caller's NET|UTS then succeeds — proof that net and uts were stageable — and a
    single-threaded caller joins all three. Oracles: errno; net, uts, time inodes;
    gethostname(); RTM_GETLINK. Bug: committing each namespace as validated -> "setns(pidfd
    (caller has 2 threads), ...|CLONE_NEWTIME) failed with EUSERS but the net ns is <B>,
    expected <init> (unchanged: setns is all-or-nothing ...)"."""
    needs_version(nsh_kernel, (5, 8), "setns() with a pidfd")
    needs_config(nsh_kernel, "TIME_NS", "a time namespace, the type validate_nsset() checks last")
    r = observe("pidfd", agent.pidfd_setns_rules(["partial", "whole"], True))
    tgt, p = r["target"], record(r["partial"], "a caller with two threads")
    all3, two = "CLONE_NEWNET|CLONE_NEWUTS|CLONE_NEWTIME", " (caller has 2 threads)"
    staged = "timens_install() refuses a multithreaded caller, after net and uts were staged"
    f = Findings()
    judge_pidfd(f, p["all"], all3, "EUSERS", staged, tgt, (), two)
    judge_pidfd(f, p["net+uts"], "CLONE_NEWNET|CLONE_NEWUTS", None,
                "net and uts do not care about threads", tgt, ("net", "uts"), two)  # fmt: skip
    judge_pidfd(f, record(r["whole"], "single-threaded"), all3, None, "all three at once", tgt,
                ("net", "uts", "time"), " (single-threaded)")  # fmt: skip
    f.done()


@pytest.mark.behaviour(14)
def test_netns_switch_is_per_thread(agent, observe):
    """14. Two threads of one process setns() into B and C at once; the main thread stays.
    Oracles per thread: /proc/thread-self/ns/net vs /proc/self/ns/net (the leader's), its
    RTM_GETLINK dump, /proc/thread-self/net/dev vs /proc/self/net/dev; references: holder
    inodes, /proc/1/ns/net. Bug: setns switching the whole thread group -> "/proc/self/ns/net
    (the leader's) seen by the thread that joined B gave <B>; expected <init> (...)"."""
    r = observe("threads", agent.setns_per_thread())
    if any("exception" in t for t in r["threads"]):
        raise SetupStepFailed("run two threads", str(r["threads"]))
    f = Findings()
    pairs = (("B", "nshs14b", "nshs14c"), ("C", "nshs14c", "nshs14b"))
    for t, (ns, mine, other) in zip(r["threads"], pairs, strict=True):
        who = f"the thread that joined {ns}"
        f.errno(t["errno"], None, call=f"setns({ns}) in a thread", why="root may join")
        f.expect(t["thread_self_ns"], r[ns], what=f"/proc/thread-self/ns/net of {who}",
                 why="the switch applies to the calling thread")  # fmt: skip
        f.expect(t["self_ns"], r["init"], what=f"/proc/self/ns/net (the leader's) seen by {who}",
                 why="the leader never switched: a netns belongs to a thread")  # fmt: skip
        f.check(mine in t["netlink"] and other not in t["netlink"], f"RTM_GETLINK from {who} "
                f"lists {t['netlink']}; expected {ns}'s devices (with {mine})")  # fmt: skip
        f.check(mine in t["thread_self_net_dev"], f"/proc/thread-self/net/dev of {who} lists "
                f"{t['thread_self_net_dev']}; expected {ns}'s devices (with {mine})")  # fmt: skip
        f.check(mine not in t["self_net_dev"], f"/proc/self/net/dev seen by {who} lists {mine};"
                " /proc/self is the leader, still in init")  # fmt: skip
    m = r["main"]
    f.expect(m["thread_self_ns"], r["init"], what="the main thread's netns",
             why="other threads' setns() does not move it")  # fmt: skip
    f.check(
        not {"nshs14b", "nshs14c"} & set(m["netlink"]),
        f"the main thread's RTM_GETLINK lists {m['netlink']}: B's or C's dummy in init",
    )
    f.done()


@pytest.mark.behaviour(15)
def test_joining_a_mount_ns_needs_an_unshared_fs_and_cap_sys_chroot(agent, observe):
    """15. Target: a holder's mount ns with a tmpfs on /mnt holding a marker. Oracles:
    errno; /proc/thread-self/ns/mnt; the marker file (visible only in the target). Bug:
    dropping mntns_install()'s `fs->users != 1` -> "setns(mount ns) as root with a second
    thread succeeded; expected EINVAL (...)" (and the other thread's root moved too)."""
    r = observe("setns", agent.setns_mnt_rules())
    if r["marker_here"]:
        raise SetupStepFailed("a tmpfs on /mnt in the holder only", "its marker shows in init")
    cases = {
        "single-threaded root": (None, "root with its own fs_struct may join"),
        "root with a second thread": ("EINVAL", "threads share fs_struct (root, cwd)"),
        "root sharing fs_struct with a clone(CLONE_FS) sibling": ("EINVAL", "shared fs_struct"),
        "root without CAP_SYS_CHROOT": ("EPERM", "joining moves the root: CAP_SYS_CHROOT"),
    }
    f = Findings()
    view = "the target's /mnt marker file exists"
    for case, (want, why) in cases.items():
        rec, call = record(r[case], case), f"setns(mount ns) as {case}"
        judge(f, rec, call, want, why, "mnt", r["target"], view)
    f.done()


@pytest.mark.behaviour(16)
def test_joining_a_user_ns_refuses_own_multithreaded_and_uncapable_callers(
    agent, nsh_kernel, observe
):
    """16. U: user ns created by uid 65534 (map 0 65534 1); R: created by root. Oracles:
    errno; /proc/thread-self/ns/user; getuid() and /proc/self/uid_map (procfs). Bug:
    removing userns_install()'s `user_ns == current_user_ns()` check -> "setns(its own user
    ns) as root succeeded; expected EINVAL (re-entering would re-grant capabilities)"."""
    needs_config(nsh_kernel, "USER_NS", "user namespaces")
    r = observe("setns", agent.setns_user_rules())
    init_map, u_map = r["init_uid_map"], "0 65534 1"

    def at(uid, mapping):
        return {"uid": uid, "uid_map": mapping}

    cases = {  # guest case: (call, errno, view if joined, view at home, why)
        "root into its own user ns": ("setns(its own user ns) as root", "EINVAL", None,
                                      at(0, init_map), "re-entering would re-grant capabilities"),
        "root into U": ("setns(U) as root", None, at(65534, u_map), None,
                        "root is capable over U; uid 0 is unmapped in U (overflow uid)"),
        "root with a second thread into U": ("setns(U) as root with a second thread", "EINVAL",
                                             None, at(0, init_map),
                                             "a multithreaded process keeps its user ns"),
        "uid 65534 into U (which it created)": ("setns(U) as uid 65534, its creator", None,
                                                at(0, u_map), None,
                                                "U's owner is capable in U; 65534 maps to 0"),
        "uid 65534 into R (created by root)": ("setns(R) as uid 65534", "EPERM", None,
                                               at(65534, init_map), "no CAP_SYS_ADMIN in R"),
        "uid 1234 into U": ("setns(U) as uid 1234", "EPERM", None, at(1234, init_map),
                            "no CAP_SYS_ADMIN in U"),
    }  # fmt: skip
    f = Findings()
    view = "getuid() and /proc/self/uid_map"
    for case, (call, want, joined, home, why) in cases.items():
        tgt = r["R"] if "into R" in case else r["U"]
        judge(f, record(r[case], case), call, want, why, "user", tgt, view, joined, home)
    f.done()


@pytest.mark.behaviour(17)
def test_joining_a_pid_ns_changes_only_pid_for_children(agent, nsh_kernel, observe):
    """17. P: a pid ns whose pid 1 is a holder. After setns(P): getpid() and
    /proc/self/ns/pid unchanged, pid_for_children is P; a child forked then is in P (its
    /proc/self/ns/pid; NSpid in procfs reads [fork()'s return, its getpid()]); from inside
    P its own pid ns can be joined, the ancestor (init) cannot. Bug: pidns_install() not
    setting pid_ns_for_children -> "/proc/self/ns/pid_for_children after setns(P) gave
    <init>; expected <P> (...)"."""
    needs_config(nsh_kernel, "PID_NS", "pid namespaces")
    r = observe("setns", agent.setns_pid_rules())
    kid = r["forked"]
    f = Findings()
    f.errno(r["errno"], None, call="setns(P)", why="root may join a child pid ns")
    f.expect(r["after"], r["before"], what="/proc/thread-self/ns/pid after setns(P)",
             why="the caller's own pid ns never changes")  # fmt: skip
    f.expect(r["getpid_after"], r["getpid_before"], what="getpid() after setns(P)",
             why="the caller keeps its pid")  # fmt: skip
    f.expect(r["view"], r["P"], what="/proc/self/ns/pid_for_children after setns(P)",
             why="only pid_for_children switches")  # fmt: skip
    f.expect(kid.get("pid_ns"), r["P"], what="/proc/self/ns/pid of a child forked then",
             why="children are born in pid_for_children")  # fmt: skip
    f.expect(kid["NSpid"], [kid["fork_returned"], kid.get("getpid")], what="that child's NSpid",
             why="[its pid in init as fork() returned it, in P as its getpid() says]")  # fmt: skip
    f.check(kid.get("getpid") != kid["fork_returned"], "the child forked after setns(P) sees "
            f"getpid() {kid.get('getpid')}, its pid in init: it is not in P")  # fmt: skip
    f.errno(kid.get("to its own active pid ns"), None, call="setns(P) from inside P",
            why="a process may join its own active pid ns")  # fmt: skip
    f.errno(kid.get("to the ancestor (init) pid ns"), "EINVAL", call="setns(init pid ns) from "
            "inside P", why="only the active pid ns or its descendants can be joined")  # fmt: skip
    f.done()


@pytest.mark.behaviour(18)
def test_joining_a_time_ns_moves_the_clocks_at_once_and_refuses_threads(agent, nsh_kernel, observe):
    """18. T: a time ns with monotonic and boottime offsets of +100000 s. Oracles: errno;
    /proc/thread-self/ns/time and time_for_children; CLOCK_MONOTONIC through the vDSO (the
    timens vvar page), CLOCK_BOOTTIME through the raw syscall, /proc/uptime. Bug: skipping
    the vvar switch in timens_commit() -> "after setns(T) as single-threaded root (ok),
    monotonic (vDSO) moved by 0.0 s; expected +100000 s" while the others moved."""
    needs_config(nsh_kernel, "TIME_NS", "time namespaces")
    offset = 100000
    r = observe("setns", agent.setns_time_rules(offset_s=offset))
    cases = {
        "single-threaded root": (None, "root may join; it applies to the caller at once"),
        "root with a second thread": ("EUSERS", "a multithreaded process keeps its time ns"),
        "uid 65534": ("EPERM", "no CAP_SYS_ADMIN over T's owner"),
    }
    f = Findings()
    view = "/proc/thread-self/ns/time_for_children"
    for case, (want, why) in cases.items():
        rec = record(r[case], case)
        judge(f, rec, f"setns(T) as {case}", want, why, "time", r["T"], view, r["T"], rec["before"])
        moved = offset if want is None else 0
        for clock, jump in rec["jump_s"].items():
            f.check(abs(jump - moved) < 30, f"after setns(T) as {case} ({rec['errno'] or 'ok'}),"
                    f" {clock} moved by {jump} s; expected {moved:+d} s")  # fmt: skip
    f.done()
