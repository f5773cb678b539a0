"""listns(2) (catalogue items 49-52, 6.19+: syscall 470); area "nstree".

References from other interfaces: NS_GET_ID of /proc/<pid>/ns/* of every live process (what
a task uses is active: it must be listed), NS_GET_NSTYPE and NS_GET_USERNS of the fd an
id-only handle of each listed id opens (the type and owner filters), the caller's own
/proc/self/ns ids (visibility), one large call (pagination). Before 6.19 the syscall does
not exist: ENOSYS, asserted on 6.1 and 6.12.
"""

import pytest

from harness.guest.uapi import CLONE
from harness.scenario import Boundary, Findings

from ._nsids import ids_agree

pytestmark = [pytest.mark.vm, pytest.mark.area("nstree")]

LISTNS = Boundary("listns(2)", (6, 19))  # 76b6f5dfb3fd; glibc and x/sys call it 6.19


def as_set(ids):
    """A listing compared as a set (its order is item 49's), an errno name as it is."""
    return sorted(set(ids)) if isinstance(ids, list) else ids


def no_listns(f: Findings, k, got, what: str) -> None:
    f.expect(got, "ENOSYS", what=what, why=f"{LISTNS.note()}; kernel {k.release}")


@pytest.mark.behaviour(49)
def test_listns_lists_active_namespaces_in_ascending_order_every_task_namespace_among_them(
    agent, nsh_kernel, observe
):
    """49. listns({size 32}, ids, 1024, 0) as root of the initial namespaces: ids in
    ascending order, no duplicates, every namespace a live process uses (NS_GET_ID of
    /proc/<pid>/ns/*) among them, each listed id decoding (id-only handle) to a namespace.
    6.1/6.12: ENOSYS. Bug: skipping the first entry of the tree -> "listns() gave [2, 3,
    ...]; the namespaces live tasks use [1] are missing (...)"."""
    r = observe("lists", agent.listns_lists())
    f = Findings()
    if not LISTNS.has(nsh_kernel):
        no_listns(f, nsh_kernel, r["whole"], "listns()")
        return f.done()
    ids_agree(f, r["witness"], "on our own namespaces")
    ids = r["whole"]
    f.check(ids == sorted(set(ids)), f"listns() gave {ids}; expected ascending ids, each once")
    missing = sorted(int(i) for i in r["tasks use"] if int(i) not in ids)
    f.check(
        not missing,
        f"listns() gave {ids}; the namespaces live tasks use {missing} are "
        "missing (NS_GET_ID of /proc/<pid>/ns/*: a task makes a namespace active)",
    )
    undecoded = {i: d for i, d in r["decoded"].items() if "nstype" not in d}
    f.check(
        not undecoded,
        f"listed ids whose id-only handle did not open: {undecoded} "
        "(listed means active and visible: it must decode)",
    )
    f.done()


@pytest.mark.behaviour(50)
def test_listns_filters_by_type_and_by_owning_user_namespace(agent, nsh_kernel, observe):
    """50. With U (uid 65534's user ns owning a new net and uts ns) alive: each ns_type lists
    exactly the listed ids whose decoded fd has that NS_GET_NSTYPE; NET|UTS both kinds;
    user_ns_id = init's user ns and LISTNS_CURRENT_USER (we are in init's) list what init's
    user ns owns — U included, init's user ns itself not; with ns_type USER only U;
    user_ns_id = U exactly U's net and uts (NS_GET_USERNS of their fds names U); a netns id
    or an unknown id as user_ns_id -> EINVAL. 6.1/6.12: ENOSYS. Bug: the owner filter
    matching the namespace itself -> "listns(user_ns_id = U) gave [U, net, uts]; expected
    [net, uts] (...)"."""
    r = observe("lists", agent.listns_lists())
    f = Findings()
    if not LISTNS.has(nsh_kernel):
        no_listns(f, nsh_kernel, r["whole"], "listns()")
        return f.done()
    ids_agree(f, r["witness"], "on our own namespaces")
    dec = {int(i): d for i, d in r["decoded"].items()}
    U, own = r["U"], r["own"]
    for kind, got in r["by type"].items():
        want = sorted(i for i, d in dec.items() if d.get("nstype") == CLONE[kind])
        f.expect(
            as_set(got),
            want,
            what=f"listns(ns_type=CLONE_NEW{kind.upper()})",
            why="the listed ids whose decoded fd is of that type (NS_GET_NSTYPE)",
        )
    want = sorted(i for i, d in dec.items() if d.get("nstype") in (CLONE["net"], CLONE["uts"]))
    f.expect(
        as_set(r["NET|UTS"]),
        want,
        what="listns(ns_type=CLONE_NEWNET|CLONE_NEWUTS)",
        why="an OR of types lists each",
    )
    owned = sorted(i for i, d in dec.items() if d.get("owner") == own["user"])
    for name in ("owner = init's user ns", "owner = LISTNS_CURRENT_USER"):
        f.expect(
            as_set(r[name]),
            owned,
            what=f"listns({name})",
            why="what init's user ns owns (the "
            "decoded fds' NS_GET_USERNS), U among it, not init's user ns itself",
        )
    f.expect(
        as_set(r["owner = init's user ns, type USER"]),
        [U["user"]],
        what="listns(owner = init's user ns, ns_type USER)",
        why="its child user ns U, not itself",
    )
    f.expect(
        as_set(r["owner = U"]),
        sorted([U["net"], U["uts"]]),
        what="listns(user_ns_id = U)",
        why="U owns its net and uts ns (not itself)",
    )
    for name in ("owner = a netns id", "owner = an unknown id"):
        f.expect(
            r[name],
            "EINVAL",
            what=f"listns({name})",
            why="user_ns_id must name an active user namespace",
        )
    f.done()


@pytest.mark.behaviour(51)
def test_listns_shows_callers_without_init_privilege_only_their_own_namespaces(
    agent, nsh_kernel, observe
):
    """51. uid 65534 in the initial namespaces lists exactly its eight namespaces (other
    namespaces exist: the harness's, kdevtmpfs's); with user_ns_id = init's user ns those
    but the user ns. Root of a new user ns (made by uid 65534) that unshared mnt, net, uts
    and ipc lists its eight current ones; LISTNS_CURRENT_USER and user_ns_id = its user ns
    exactly its mnt, net, uts, ipc. Root in a child pid ns lists its eight (its new pid ns,
    not init's). References: each caller's /proc/self/ns ids. 6.1/6.12: ENOSYS. Bug:
    may_see_all_namespaces() trusting CAP_SYS_ADMIN in the caller's user ns -> "listns() as
    root of a child user ns gave [1, 2, ...]; expected its own [...] (...)"."""
    r = observe("visibility", agent.listns_visibility())
    f = Findings()
    if not LISTNS.has(nsh_kernel):
        for who, d in r.items():
            no_listns(f, nsh_kernel, d.get("all", d.get("exception")), f"listns() as {who}")
        return f.done()
    why = "a caller without CAP_SYS_ADMIN in the initial user and pid ns sees its own only"
    for who, d in r.items():
        if "witness" in d:
            ids_agree(f, d["witness"], f"as {who}")
    for who, d in r.items():
        if "exception" in d:
            f.check(False, f"listns() as {who}: the probe failed: {d['exception']}")
            continue
        own = d["own"]
        f.expect(
            as_set(d["all"]),
            sorted(own.values()),
            what=f"listns() as {who}",
            why=f"its own namespaces (/proc/self/ns): {why}",
        )
    nob = r["uid 65534"]
    f.expect(
        as_set(nob.get("owner = init's user ns")),
        sorted(v for k, v in nob["own"].items() if k != "user"),
        what="listns(user_ns_id = init's user ns) as uid 65534",
        why="its own namespaces but the owner itself",
    )
    cu = r["root of a child user ns"]
    mine = sorted(cu["own"][k] for k in ("mnt", "net", "uts", "ipc"))
    for name in ("LISTNS_CURRENT_USER", "owner = its user ns"):
        f.expect(
            as_set(cu.get(name)),
            mine,
            what=f"listns({name}) as root of a child user ns",
            why="what its user ns owns that it may see: its new mnt, net, uts, ipc",
        )
    f.done()


@pytest.mark.behaviour(52)
def test_listns_pages_end_with_enoent_and_bad_requests_fail_with_their_errno(
    agent, nsh_kernel, observe
):
    """52. Pages of 3 from id 0 join to the one large call's list, and the call after the
    last page is ENOENT (also when the last page filled exactly, and after a batch the size
    of the whole list); resuming after the largest id is ENOENT, per type too, after the one
    but largest gives the largest. Errors: flags 1, size 24, spare 1 -> EINVAL; nr 1000001 ->
    EOVERFLOW (1000000 works); size 8192 and a non-zero byte past 32 -> E2BIG (a zero one
    works); an unknown type bit -> EOPNOTSUPP; spare2 is not checked; bad buffers -> EFAULT
    (NULL with nr 0 works: 0). 6.1/6.12: ENOSYS. Bug: ENOENT instead of 0 dropped from the
    pagination -> "listns resumed after the largest id gave []; expected ENOENT (...)"."""
    r = observe("pages", agent.listns_pages_and_errors())
    f = Findings()
    if not LISTNS.has(nsh_kernel):
        no_listns(f, nsh_kernel, r["whole"], "listns()")
        return f.done()
    ids, pages = r["whole"], r["pages of 3"]
    joined = [i for p in pages if isinstance(p, list) for i in p]
    f.expect(joined, ids, what="listns() in pages of 3, joined", why="one call for the lot")
    f.expect(
        pages[-1],
        "ENOENT",
        what="listns() after the last page",
        why="no active id is larger: ENOENT, not 0 (also when the last page filled exactly)",
    )
    f.check(
        all(len(p) == 3 for p in pages[:-2] if isinstance(p, list)),
        f"listns() in pages of 3 gave {pages}; expected full pages but the last",
    )
    f.expect(
        r["exact batch"],
        ids,
        what="listns() with room for exactly the list",
        why="the one large call",
    )
    for name in (
        "resume after the largest",
        "resume after the exact batch",
        "resume after the largest netns id, NET",
    ):
        f.expect(r[name], "ENOENT", what=f"listns(): {name}", why="nothing larger is active")
    f.expect(
        r["resume after the largest but one"],
        [max(ids)],
        what="listns() resumed after the largest id but one",
        why="only the largest is larger",
    )
    n = len(ids)
    want = {
        "flags 1": "EINVAL",
        "nr 1000001": "EOVERFLOW",
        "nr 1000000": n,
        "size 24": "EINVAL",
        "size 8192": "E2BIG",
        "size 40, zero tail": n,
        "size 40, non-zero tail": "E2BIG",
        "spare 1": "EINVAL",
        "spare2 1": n,
        "ns_type 1": "EOPNOTSUPP",
        "ns_type 1<<31": "EOPNOTSUPP",
        "ids at address 1": "EFAULT",
        "request at address 1": "EFAULT",
        "ids NULL, nr 0": 0,
        "ids NULL, nr 5": "EFAULT",
        "ids at a kernel address": "EFAULT",
    }
    for name, w in want.items():
        x = r["errors"][name]
        f.expect(
            x.get("errno", x.get("n", x.get("ret"))),
            w,
            what=f"listns() with {name}",
            why="listns's request checks (copy_struct_from_user, flags, spare, types)",
        )
    f.done()
