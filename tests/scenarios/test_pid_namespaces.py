"""Pid namespaces since 6.12 (catalogue items 64-65): kernel.pid_max per pid namespace and
joining a pid namespace that has no process yet; area "pidns".

pid_max written in a child pid ns is read back from the initial one (the reference: on a
kernel where the value is global the write shows there; the probe puts init's value back
whatever happens). The joined child's pid is checked against its NSpid through init's /proc.
"""

import pytest

from harness.scenario import Boundary, Findings

pytestmark = [pytest.mark.vm, pytest.mark.area("pidns")]

PID_MAX = Boundary("kernel.pid_max per pid namespace", (6, 14))  # pull "pid_max per pid ns"
EMPTY_JOIN = Boundary("joining a pid ns with no process", (6, 19))  # (6.18 still ENOENT)
PID_MAX_LIMIT = 4194304  # x86_64 (include/linux/threads.h), what a new pid ns starts with


@pytest.mark.behaviour(64)
def test_pid_max_belongs_to_the_callers_pid_namespace(agent, nsh_kernel, observe):
    """64. From 6.14 (boundary from source, unverified): pid 1 of a child pid ns (root of
    the initial user ns) reads PID_MAX_LIMIT (not init's value: the catalogue did not say),
    writes 1000 and reads it back, while init still reads its own; pid 1 of a pid ns owned
    by a user ns that uid 65534 made may write its value (2000) too. Before 6.14 the value
    is global: the child reads init's, its write changes init's, and the user ns's root
    gets EACCES. uid 65534 writing init's: EACCES on every series. Bug: the write going to
    init's pid ns -> "pid_max in init after the child pid ns wrote 1000 gave 1000; expected
    32768 (...)"."""
    r = observe("pid_max", agent.pid_max_per_pidns())
    f = Findings()
    init, child, user = (
        r["init before"],
        r["root in a child pid ns"],
        r["root of a child user ns, its own pid ns"],
    )
    f.expect(
        [child["getpid"], user["getpid"]],
        [1, 1],
        what="the writers' getpid()",
        why="each is pid 1 of its new pid ns",
    )
    f.expect(
        r["uid 65534 writes init's"],
        "EACCES",
        what="uid 65534 writing init's pid_max",
        why="root only",
    )
    f.expect(r["init at the end"], init, what="init's pid_max at the end", why="put back")
    if PID_MAX.has(nsh_kernel):
        why = f"{PID_MAX.note()}: the caller's pid ns's own value"
        f.expect(
            [child["before"], child["write"], child["after"], r["init after the child's write"]],
            [str(PID_MAX_LIMIT), None, "1000", init],
            what="pid_max in a child pid ns [read, write 1000, read, init's after]",
            why=why,
        )
        f.expect(
            [user["before"], user["write"], user["after"], r["init after that write"]],
            [str(PID_MAX_LIMIT), None, "2000", init],
            what="pid_max in a pid ns of a user "
            "ns made by uid 65534 [read, write 2000, read, init's after]",
            why=f"{why}; its owner's root may set it",
        )
    else:
        why = f"{PID_MAX.note()}: one global value; kernel {nsh_kernel.release}"
        f.expect(
            [child["before"], child["write"], child["after"], r["init after the child's write"]],
            [init, None, "1000", "1000"],
            what="pid_max in a child pid ns [read, write 1000, read, init's after]",
            why=why,
        )
        f.expect(
            [user["write"], r["init after that write"]],
            ["EACCES", init],
            what="pid_max written by a user ns's root [write, init's after]",
            why=f"{why}, writable by global root only",
        )
    f.done()


@pytest.mark.behaviour(65)
def test_a_pid_namespace_without_processes_can_be_joined_and_gets_its_pid_1(
    agent, nsh_kernel, observe
):
    """65. A unshares CLONE_NEWPID and forks nothing; B opens /proc/A/ns/pid_for_children,
    setns()es to it and forks: from 6.19 (boundary from source, unverified; 6.18 still
    ENOENT) the child is pid 1 there (getpid() 1, NSpid [global, 1] through init's /proc).
    Before: pid_for_children is ENOENT until A has a child. Bug: the first pid of a joined
    empty ns not made its init -> "the child of B in A's pid ns: getpid() gave 2; expected
    1 (...)"."""
    r = observe("join", agent.join_empty_pidns())
    f = Findings()
    f.expect(r["A unshare"], "ok", what="unshare(CLONE_NEWPID) by A", why="root may")
    b = r["B joins and forks"]
    if not EMPTY_JOIN.has(nsh_kernel):
        f.expect(
            b.get("open A's pid_for_children"),
            "ENOENT",
            what="opening A's pid_for_children",
            why=f"{EMPTY_JOIN.note()}: no pid ns to show before its "
            f"first process; kernel {nsh_kernel.release}",
        )
        return f.done()
    nspid = b.get("child NSpid") or []
    f.expect(
        [b.get("setns"), (b.get("child") or {}).get("getpid"), nspid[1:]],
        [None, 1, [1]],
        what="B's setns to A's pid_for_children, then its child [setns, getpid, NSpid in A's ns]",
        why=f"{EMPTY_JOIN.note()}: the first process of a pid ns is its pid 1",
    )
    f.done()
