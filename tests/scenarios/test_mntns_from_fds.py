"""Mount namespaces made from file descriptors (catalogue items 66-68) and the clone3
flags that came with them (69); area "mntns".

What a new mount ns holds is read from inside it (after setns, or in the new child) through
an fd of init's /proc opened before — mountinfo, NS_MNT_GET_INFO, listmount, the root's
listing and statfs magic — against what the source tree shows outside (our mountinfo, the
directory's listing). Before the release that added each, the flag is unknown: EINVAL,
asserted on 6.1 and 6.12.
"""

import pytest

from harness.guest.uapi import CLONE, NULLFS_MAGIC, TMPFS_MAGIC
from harness.scenario import Boundary, Findings

pytestmark = [pytest.mark.vm, pytest.mark.area("mntns")]

OPEN_TREE_NS = Boundary("OPEN_TREE_NAMESPACE", (7, 0))
FSMOUNT_NS = Boundary("FSMOUNT_NAMESPACE", (7, 1))  # tag vfs-7.1-rc1.mount.v2
EMPTY_MNTNS = Boundary("empty mount namespaces", (7, 1))
CLONE3_FLAGS = Boundary("CLONE_AUTOREAP, CLONE_NNP, CLONE_PIDFD_AUTOKILL", (7, 2))


def unknown_flag(f: Findings, k, b: Boundary, calls: dict) -> None:
    for name, x in calls.items():
        f.expect(
            x.get("errno", "a value") if isinstance(x, dict) else x,
            "EINVAL",
            what=name,
            why=f"{b.note()}: an unknown flag; kernel {k.release}",
        )


def mntns(f: Findings, what: str, x: dict, mounts: int, lines: list[str], magic: int) -> None:
    """*x* is a new mount ns fd: type CLONE_NEWNS, its NS_GET_ID and nr_mounts as seen from
    inside too, *lines* its mountinfo (root, mount point, type), *magic* the root's fs."""
    inside = x.get("inside") or {}
    f.expect(
        [x.get("nstype"), x.get("nr_mounts")],
        [CLONE["mnt"], mounts],
        what=f"{what}: the fd [NS_GET_NSTYPE, NS_MNT_GET_INFO nr_mounts]",
        why="a mount namespace holding that many mounts (its root not counted)",
    )
    f.expect(
        [
            inside.get("id"),
            inside.get("nr_mounts"),
            inside.get("mountinfo"),
            inside.get("cwd"),
            inside.get("statfs magic"),
        ],
        [x.get("id"), mounts, lines, "/", magic],
        what=f"{what}, from inside [NS_GET_ID, nr_mounts, mountinfo, cwd, statfs(/)]",
        why="setns() into the fd's mount ns: its root is the copy; cwd reset",
    )


@pytest.mark.behaviour(66)
def test_open_tree_namespace_makes_a_mount_namespace_of_a_copy_of_the_tree(
    agent, nsh_kernel, observe
):
    """66. From 7.0 (boundary from source, unverified): open_tree(/run, OPEN_TREE_NAMESPACE)
    returns an nsfs fd of a new mount ns whose root is a copy of the /run mount alone
    (mountinfo "/ / tmpfs", listmount 1, its listing /run's); with AT_RECURSIVE on / it
    holds all our mounts (the same mount points). With OPEN_TREE_CLONE too, or of an
    unbindable mount: EINVAL; as uid 65534: EPERM. 6.1/6.12: EINVAL. Bug: the copy not
    recursive with AT_RECURSIVE -> "open_tree(/, ...|AT_RECURSIVE): the fd [NS_GET_NSTYPE,
    nr_mounts] gave [131072, 1]; expected [131072, 10] (...)"."""
    r = observe("open_tree", agent.open_tree_namespace())
    f = Findings()
    calls = {
        k: r[k]
        for k in (
            "/run",
            "/, AT_RECURSIVE",
            "/run, with OPEN_TREE_CLONE",
            "uid 65534",
            "an unbindable mount",
        )
    }
    if not OPEN_TREE_NS.has(nsh_kernel):
        unknown_flag(
            f,
            nsh_kernel,
            OPEN_TREE_NS,
            {f"open_tree({k}, OPEN_TREE_NAMESPACE)": v for k, v in calls.items()},
        )
        return f.done()
    ours = r["ours"]
    run = r["/run"]
    mntns(f, "open_tree(/run, OPEN_TREE_NAMESPACE)", run, 1, ["/ / tmpfs"], TMPFS_MAGIC)
    f.expect(
        (run.get("inside") or {}).get("ls /"),
        ours["ls /run"],
        what="the new mount ns's root listing",
        why="a copy of /run: our /run's listing",
    )
    rec = r["/, AT_RECURSIVE"]
    inside = rec.get("inside") or {}
    points = sorted(ln.split()[1] for ln in inside.get("mountinfo") or [])
    f.expect(
        [rec.get("nr_mounts"), points],
        [len(ours["mount points"]), sorted(ours["mount points"])],
        what="open_tree(/, OPEN_TREE_NAMESPACE|AT_RECURSIVE) [nr_mounts, mount points inside]",
        why="a copy of every mount we see (our mountinfo)",
    )
    for name, want in (
        ("/run, with OPEN_TREE_CLONE", "EINVAL"),
        ("uid 65534", "EPERM"),
        ("an unbindable mount", "EINVAL"),
    ):
        f.expect(
            r[name].get("errno"),
            want,
            what=f"open_tree(OPEN_TREE_NAMESPACE): {name}",
            why="not with CLONE; CAP_SYS_ADMIN; unbindable mounts cannot be copied",
        )
    f.done()


@pytest.mark.behaviour(67)
def test_fsmount_namespace_makes_a_mount_namespace_of_the_new_filesystem(
    agent, nsh_kernel, observe
):
    """67. From 7.1 (boundary from source, unverified): fsmount(tmpfs context,
    FSMOUNT_NAMESPACE) returns a mount ns fd in which only the new tmpfs is visible
    (mountinfo "/ / tmpfs", nr_mounts 1, an empty root; the catalogue's "attached to a copy
    of the rootfs" is not what mountinfo shows); the context is then used: fsmount again is
    EBUSY. 6.1/6.12: EINVAL, and the context still mounts (flags 0). Bug: the namespace
    left empty -> "fsmount(..., FSMOUNT_NAMESPACE), from inside [...] gave [..., 0, [], ...];
    expected [..., 1, ['/ / tmpfs'], ...]"."""
    r = observe("fsmount", agent.fsmount_namespace())
    f = Findings()
    f.expect(
        r.get("fsconfig CREATE"),
        None,
        what="fsconfig(FSCONFIG_CMD_CREATE) of a tmpfs",
        why="a new superblock",
    )
    x = r["FSMOUNT_NAMESPACE"]
    if not FSMOUNT_NS.has(nsh_kernel):
        unknown_flag(f, nsh_kernel, FSMOUNT_NS, {"fsmount(FSMOUNT_NAMESPACE)": x})
        f.expect(
            r["fsmount again, flags 0"],
            None,
            what="fsmount(the same context, 0)",
            why="the failed call left the context unused",
        )
        return f.done()
    mntns(f, "fsmount(FSMOUNT_NAMESPACE)", x, 1, ["/ / tmpfs"], TMPFS_MAGIC)
    f.expect(
        (x.get("inside") or {}).get("ls /"), [], what="its root's listing", why="a new, empty tmpfs"
    )
    f.expect(
        r["fsmount again, flags 0"],
        "EBUSY",
        what="fsmount(the same context) again",
        why="the context's superblock is mounted already",
    )
    f.done()


@pytest.mark.behaviour(68)
def test_an_empty_mount_namespace_holds_only_a_nullfs_root(agent, nsh_kernel, observe):
    """68. From 7.1 (boundary from source, unverified): unshare(UNSHARE_EMPTY_MNTNS), with
    CLONE_NEWNS too, and clone3(CLONE_EMPTY_MNTNS) each give a new mount ns (an id other
    than ours) whose only mount is an empty nullfs root: mountinfo "/ / nullfs", nr_mounts
    0 (the root is not counted), listmount 1, cwd "/", statfs magic NULLFS_MAGIC. 6.1/6.12:
    EINVAL. Bug: the copy of the caller's tree made instead -> "unshare(UNSHARE_EMPTY_MNTNS),
    from inside [...] gave [..., 10, [...]]; expected [..., 0, ['/ / nullfs'], ...]"."""
    r = observe("empty", agent.empty_mntns())
    f = Findings()
    cases = {
        "unshare(UNSHARE_EMPTY_MNTNS)": r["unshare(UNSHARE_EMPTY_MNTNS)"],
        "unshare(UNSHARE_EMPTY_MNTNS | CLONE_NEWNS)": r[
            "unshare(UNSHARE_EMPTY_MNTNS | CLONE_NEWNS)"
        ],
        "clone3(CLONE_EMPTY_MNTNS)": r["clone3(CLONE_EMPTY_MNTNS)"].get(
            "child", r["clone3(CLONE_EMPTY_MNTNS)"]
        ),
    }
    if not EMPTY_MNTNS.has(nsh_kernel):
        unknown_flag(f, nsh_kernel, EMPTY_MNTNS, cases)
        return f.done()
    for name, x in cases.items():
        got = [
            x.get("mountinfo"),
            x.get("nr_mounts"),
            x.get("listmount"),
            x.get("cwd"),
            x.get("ls /"),
            x.get("statfs magic"),
        ]
        f.expect(
            got,
            [["/ / nullfs"], 0, 1, "/", [], NULLFS_MAGIC],
            what=f"{name}, from inside [mountinfo, nr_mounts, listmount, cwd, ls /, statfs(/)]",
            why="an empty mount ns: one nullfs root, nothing else",
        )
        f.check(
            isinstance(x.get("id"), int) and x.get("id") != r["ours"],
            f"{name}: the mount ns id gave {x.get('id')}; expected a new one (ours is {r['ours']})",
        )
    f.done()


@pytest.mark.behaviour(69)
def test_clone3_autoreap_nnp_and_pidfd_autokill(agent, nsh_kernel, observe):
    """69. From 7.2 (the 7.2 uapi has them; 7.1 was not read: boundary from source,
    unverified): clone3 CLONE_AUTOREAP with exit signal 0 runs the child and reaps it
    (waitpid ECHILD), with SIGCHLD EINVAL; CLONE_NNP sets NoNewPrivs 1 in the child;
    CLONE_PIDFD|CLONE_AUTOREAP|CLONE_PIDFD_AUTOKILL kills the child when its pidfd is closed;
    CLONE_PIDFD_AUTOKILL without AUTOREAP is EINVAL. A plain CLONE_PIDFD child is reaped by
    waitpid on every series (the control); 6.1/6.12: EINVAL for the new flags. Bug:
    AUTOKILL not wired to the pidfd's release -> "clone3(PIDFD | AUTOREAP | PIDFD_AUTOKILL):
    the child alive after its pidfd closed gave True; expected False"."""
    r = observe("clone3", agent.clone3_new_flags())
    f = Findings()
    ctl = r["control: PIDFD, SIGCHLD"]
    f.expect(
        isinstance(ctl.get("waitpid"), int),
        True,
        what="clone3(CLONE_PIDFD, SIGCHLD) then waitpid",
        why="an ordinary child, reaped by its parent",
    )
    new = {k: v for k, v in r.items() if not k.startswith("control")}
    if not CLONE3_FLAGS.has(nsh_kernel):
        unknown_flag(f, nsh_kernel, CLONE3_FLAGS, {f"clone3({k})": v for k, v in new.items()})
        return f.done()
    f.expect(
        r["AUTOREAP"].get("waitpid"),
        "ECHILD",
        what="clone3(CLONE_AUTOREAP) then waitpid",
        why="the kernel reaped it",
    )
    f.expect(
        r["NNP"].get("child"),
        {"NoNewPrivs": "1"},
        what="clone3(CLONE_NNP): the child's NoNewPrivs",
        why="no_new_privs set at clone",
    )
    ak = r["PIDFD | AUTOREAP | PIDFD_AUTOKILL"]
    f.expect(
        [ak.get("alive after its pidfd closed"), ak.get("waitpid")],
        [False, "ECHILD"],
        what="clone3(PIDFD | AUTOREAP | PIDFD_AUTOKILL), its pidfd closed [child alive, waitpid]",
        why="killed with the last pidfd, then reaped by the kernel",
    )
    for name in ("AUTOREAP, exit_signal SIGCHLD", "PIDFD | PIDFD_AUTOKILL"):
        f.expect(
            r[name].get("errno"),
            "EINVAL",
            what=f"clone3({name})",
            why="AUTOREAP takes no exit signal; AUTOKILL needs AUTOREAP",
        )
    f.done()
