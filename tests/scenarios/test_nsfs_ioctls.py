"""nsfs and pidfd ioctls (catalogue items 23, 24 and v4); area "lifetime".

Every returned namespace fd is identified by its inode and compared with /proc/<pid>/ns/* of
a process known to live there; owner uids with /proc/<pid>/uid_map; the 6.11/6.12 mount-ns
values with statmount()/listmount() and /proc/<pid>/mountinfo; pid translations with NSpid.
The 6.11/6.12 ioctls are asserted per kernel version: values where the version has them,
ENOTTY where it does not (upstream merges: vfs-6.11.nsfs for NS_GET_MNTNS_ID and the pid
ioctls, vfs-6.12.mount for NS_MNT_GET_*, 6.11 for PIDFD_GET_*_NAMESPACE).
"""

import pytest

from harness.guest.uapi import CLONE
from harness.scenario.gates import kernel_version, needs_config
from harness.scenario.verdict import Findings, SetupStepFailed

pytestmark = [pytest.mark.vm, pytest.mark.area("lifetime")]

SINCE = {"NS_GET_MNTNS_ID": (6, 11), "NS_GET_*_PIDNS": (6, 11), "NS_MNT_GET_*": (6, 12),
         "PIDFD_GET_*_NAMESPACE": (6, 11)}  # fmt: skip


def show(v) -> str:
    """An ioctl's result in words: 'an fd of user ns 4026531837', 'EPERM', 'uid 0'."""
    if isinstance(v, dict) and "ino" in v:
        kind = next((k for k, c in CLONE.items() if c == v.get("nstype")), v.get("nstype"))
        return f"an fd of {kind} ns {v['ino']}"
    if isinstance(v, dict) and "errno" in v:
        return str(v["errno"])
    if isinstance(v, dict) and "uid" in v:
        return f"uid {v['uid']}"
    if isinstance(v, dict) and "ret" in v:
        return str(v["ret"])
    return str(v)


def ns(kind: str, ino: int) -> str:
    return show({"ino": ino, "nstype": CLONE[kind]})


def absent(f: Findings, calls: dict, kernel, group: str) -> None:
    """Before the version that added *group*, every call of it is an unknown ioctl."""
    since = ".".join(map(str, SINCE[group]))
    for name, got in calls.items():
        f.expect(show(got), "ENOTTY", what=f"{name} on kernel {kernel.release}",
                 why=f"{group} ioctls are new in {since}")  # fmt: skip


@pytest.mark.behaviour(23)
def test_nsfs_ioctls_give_owner_parent_type_and_owner_uid_within_the_callers_view(
    agent, nsh_kernel, observe
):
    """23. NS_GET_USERNS / NS_GET_PARENT / NS_GET_NSTYPE / NS_GET_OWNER_UID on init's
    namespaces, on U (user+net+uts made by uid 65534), on a child pid ns P; from inside U
    and P (an owner or parent outside the caller's view -> EPERM, no escape); on fds that
    are not namespaces (ENOTTY) and an O_PATH nsfs fd (EBADF). References: returned fds'
    inodes vs /proc/<pid>/ns/*, owner uid vs U's uid_map. Bug: dropping the ancestor walk
    in ns_get_owner() -> "NS_GET_USERNS on init net ns, called inside U gave an fd of user
    ns <init>; expected EPERM (...)"."""
    needs_config(nsh_kernel, "USER_NS", "user namespaces", allow_module=False)
    r = observe("ioctls", agent.nsfs_owner_ioctls())
    ref = r["ref"]
    iu, ip, uu = ns("user", ref["init_user"]), ns("pid", ref["init_pid"]), ns("user", ref["U_user"])
    outer = f"uid {ref['U_uid_map'].split()[1]}"  # "0 65534 1": U's root is 65534 outside
    want = {
        ("init", "user"): {"USERNS": "EPERM", "PARENT": "EPERM", "OWNER_UID": "uid 0"},
        ("init", "pid"): {"USERNS": iu, "PARENT": "EPERM", "OWNER_UID": "EINVAL"},
        ("U", "user"): {"USERNS": iu, "PARENT": iu, "OWNER_UID": outer},
        ("U", "net"): {"USERNS": uu, "PARENT": "EINVAL", "OWNER_UID": "EINVAL"},
        ("U", "uts"): {"USERNS": uu, "PARENT": "EINVAL"},
        ("P", "pid"): {"USERNS": iu, "PARENT": ip},
        ("inside U", "init net"): {"USERNS": "EPERM"},
        ("inside U", "init user"): {"PARENT": "EPERM", "OWNER_UID": "uid 65534"},
        ("inside U", "U"): {"PARENT": "EPERM", "OWNER_UID": "uid 0"},
        ("inside P", "P"): {"PARENT": "EPERM"},
    }
    for kind in ("net", "uts", "ipc", "mnt", "cgroup", "time"):
        if kind in r["init"]:
            want["init", kind] = {"USERNS": iu, "PARENT": "EINVAL", "OWNER_UID": "EINVAL"}
    why = {
        "USERNS": "the owning user ns, if the caller may see it",
        "PARENT": "the parent (user and pid ns only), if within the caller's view",
        "OWNER_UID": "user ns only: its creator's uid as the caller's user ns maps it",
    }
    f = Findings()
    for (where, name), calls in want.items():
        got, inside = r[where][name], where.startswith("inside")
        label = f"{name} ns, called {where}" if inside else f"{where}'s {name} ns"
        for ioctl, w in calls.items():
            f.expect(show(got[f"NS_GET_{ioctl}"]), w, what=f"NS_GET_{ioctl} on {label}",
                     why=why[ioctl])  # fmt: skip
        if not inside:
            f.expect(got["NS_GET_NSTYPE"], CLONE[name], what=f"NS_GET_NSTYPE on {label}",
                     why=f"it is a {name} namespace")  # fmt: skip
    for name, calls in r["not nsfs"].items():
        w = "EBADF" if name.startswith("O_PATH") else "ENOTTY"
        reason = "an O_PATH file has no ioctls" if w == "EBADF" else "only nsfs knows NSIO ioctls"
        for ioctl, got in calls.items():
            f.expect(show(got), w, what=f"{ioctl} on a {name}", why=reason)
    f.done()


@pytest.mark.behaviour(24, "v4")
def test_nsfs_mount_ns_ioctls_exist_from_6_11_and_6_12_with_statmount_values(
    agent, nsh_kernel, observe
):
    """24, v4. Before 6.11: NS_GET_MNTNS_ID -> ENOTTY; before 6.12: NS_MNT_GET_INFO/NEXT/PREV
    -> ENOTTY. Where they exist: our mount ns id equals statmount(STATMOUNT_MNT_NS_ID) of
    "/"; nr_mounts equals listmount(LSMT_ROOT)'s count and /proc/<pid>/mountinfo's lines
    (ours, and a holder's mount ns with one more tmpfs); NEXT from ours is a newer mount ns
    (its fd's own id agrees), PREV from the holder's an older one; a netns fd -> EINVAL;
    uid 65534 may read the id but not walk (EPERM). Bug: NS_GET_MNTNS_ID returning the inode
    -> "NS_GET_MNTNS_ID on our mount ns gave {'id': 4026531841}; expected {'id': 2} (...)"."""
    r = observe("mntns", agent.nsfs_mntns_ioctls())
    v, ids, unpriv = kernel_version(nsh_kernel), r["NS_GET_MNTNS_ID"], r["as uid 65534"]
    f = Findings()
    if v < SINCE["NS_GET_MNTNS_ID"]:
        calls = {f"NS_GET_MNTNS_ID on {k}": x for k, x in ids.items()}
        absent(f, calls, nsh_kernel, "NS_GET_MNTNS_ID")
    else:
        sm = "statmount(STATMOUNT_MNT_NS_ID) of our root mount names the same ns"
        f.expect(ids["own"], r["statmount_ns_id_of_root"], what="NS_GET_MNTNS_ID on our mount ns",
                 why=sm)  # fmt: skip
        f.check("id" in ids["holder"] and ids["holder"] != ids["own"], "NS_GET_MNTNS_ID on a new"
                f" mount ns gave {show(ids['holder'])}; ours is {ids['own']}")  # fmt: skip
        f.expect(show(ids["netns fd"]), "EINVAL", what="NS_GET_MNTNS_ID on a netns fd",
                 why="mount namespaces only")  # fmt: skip
        f.expect(unpriv["NS_GET_MNTNS_ID"], ids["own"], what="NS_GET_MNTNS_ID as uid 65534",
                 why="reading the id needs no privilege")  # fmt: skip
    walk = {f"NS_MNT_GET_INFO on {k}": x for k, x in r["NS_MNT_GET_INFO"].items()}
    walk["NS_MNT_GET_NEXT from ours"] = nxt = r["NS_MNT_GET_NEXT(own)"]
    walk["NS_MNT_GET_PREV from the holder's"] = prv = r["NS_MNT_GET_PREV(holder)"]
    walk["NS_MNT_GET_NEXT as uid 65534"] = unpriv["NS_MNT_GET_NEXT"]
    if v < SINCE["NS_MNT_GET_*"]:
        absent(f, walk, nsh_kernel, "NS_MNT_GET_*")
        return f.done()
    for who in ("own", "holder"):
        info, lm = r["NS_MNT_GET_INFO"][who], r["listmount"][who] or {}
        what = f"NS_MNT_GET_INFO({who} mount ns)"
        f.expect(info.get("mnt_ns_id"), ids[who].get("id"), what=f"{what}.mnt_ns_id",
                 why="NS_GET_MNTNS_ID of the same fd")  # fmt: skip
        f.expect(info.get("nr_mounts"), lm.get("count"), what=f"{what}.nr_mounts",
                 why="listmount(LSMT_ROOT) lists the same mounts")  # fmt: skip
        f.expect(info.get("nr_mounts"), r["mountinfo_lines"][who], what=f"{what}.nr_mounts",
                 why="/proc/<pid>/mountinfo of a process there has that many lines")  # fmt: skip
    f.expect(show(r["NS_MNT_GET_INFO"]["netns fd"]), "EINVAL", what="NS_MNT_GET_INFO on a netns"
             " fd", why="mount namespaces only")  # fmt: skip
    own, hold, mnt = ids["own"].get("id", 0), ids["holder"].get("id", 0), CLONE["mnt"]
    for name, got, ok, rel in (("NEXT from our", nxt, nxt.get("mnt_ns_id", 0) > own, "newer"),
                               ("PREV from the holder's", prv, 0 < prv.get("mnt_ns_id", 0) < hold,
                                "older")):  # fmt: skip
        agree = got.get("fd_nstype") == mnt and got.get("fd_mntns_id") == got.get("mnt_ns_id")
        f.check(ok and agree, f"NS_MNT_GET_{name} mount ns (ids: ours {own}, holder's {hold}) "
                f"gave {got}; expected an fd of a {rel} mount ns whose own id agrees")  # fmt: skip
    f.expect(show(unpriv["NS_MNT_GET_NEXT"]), "EPERM", what="NS_MNT_GET_NEXT as uid 65534",
             why="walking all mount namespaces needs CAP_SYS_ADMIN in the initial ns")  # fmt: skip
    f.done()


@pytest.mark.behaviour(24, "v4")
def test_nsfs_pid_translation_ioctls_exist_from_6_11_and_agree_with_nspid(
    agent, nsh_kernel, observe
):
    """24, v4. P: a pid ns whose pid 1 (a holder) runs a second thread. From 6.11,
    NS_GET_{PID,TGID}_FROM_PIDNS translate P's numbers into ours and _IN_PIDNS ours into P's,
    agreeing with /proc/<pid>/task/<tid>/status NSpid; our own pid is not in P (ESRCH); a
    netns fd -> EINVAL. Before 6.11: ENOTTY. Bug: find_task_by_vpid and find_task_by_pid_ns
    swapped -> "NS_GET_PID_IN_PIDNS(leader) on P gave ESRCH; expected 1 (NSpid says ...)"."""
    r = observe("pidns", agent.nsfs_pidns_ioctls())
    calls, nspid = r["calls"], r["NSpid"]
    f = Findings()
    if kernel_version(nsh_kernel) < SINCE["NS_GET_*_PIDNS"]:
        absent(f, {f"NS_GET_{k}": x for k, x in calls.items()}, nsh_kernel, "NS_GET_*_PIDNS")
        return f.done()
    if len(nspid["leader"]) != 2 or len(nspid["thread"]) != 2:
        raise SetupStepFailed("a 2-thread pid 1 in a child pid ns", f"NSpid {nspid}")
    (lg, lp), (tg, tp) = nspid["leader"], nspid["thread"]
    want = {"PID_FROM_PIDNS(1)": lg, "TGID_FROM_PIDNS(1)": lg, "PID_FROM_PIDNS(thread)": tg,
            "TGID_FROM_PIDNS(thread)": lg, "PID_IN_PIDNS(leader)": lp,
            "PID_IN_PIDNS(thread)": tp, "TGID_IN_PIDNS(thread)": lp,
            "PID_IN_PIDNS(caller, not in P)": "ESRCH",
            "PID_FROM_PIDNS on a netns fd": "EINVAL"}  # fmt: skip
    why = f"NSpid: leader {lg} (ours) = {lp} (in P), thread {tg} = {tp}; we are not in P"
    for name, w in want.items():
        f.expect(show(calls[name]), str(w), what=f"NS_GET_{name} on P", why=why)
    f.done()


@pytest.mark.behaviour("v4")
def test_pidfd_namespace_ioctls_exist_from_6_11_and_match_proc_ns(agent, nsh_kernel, observe):
    """v4. PIDFD_GET_<TYPE>_NAMESPACE on a pidfd of a holder with new net, uts, ipc: from
    6.11 an fd of exactly the namespace /proc/<pid>/ns/<type> names; before: ENOTTY. Bug:
    returning the caller's namespace -> "PIDFD_GET_NET_NAMESPACE gave inode <init>; expected
    <the holder's> (...)"."""
    r = observe("pidfd", agent.pidfd_ns_ioctls())
    group, f = "PIDFD_GET_*_NAMESPACE", Findings()
    names = {k: f"PIDFD_GET_{k.upper()}_NAMESPACE" for k in r["ioctls"]}
    if kernel_version(nsh_kernel) < SINCE[group]:
        absent(f, {names[k]: x for k, x in r["ioctls"].items()}, nsh_kernel, group)
        return f.done()
    for kind, x in r["ioctls"].items():
        new = " (a new one, not ours)" if kind in r["fresh"] else ""
        f.expect(x.get("ino", x.get("errno")), x["ref"], what=f"{names[kind]} (inode)",
                 why=f"/proc/<pid>/ns/{kind} of the holder{new}")  # fmt: skip
    f.done()
