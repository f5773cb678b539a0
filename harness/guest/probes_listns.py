"""Guest probes of test_listns.py: listns(2) (syscall 470, 6.19+) — what it lists and in
which order, its filters (ns_type, user_ns_id), pagination, its errors, and what callers
without the privilege to see everything see (catalogue items 49-52).

The references are other interfaces: NS_GET_ID of /proc/<pid>/ns/* of every live process
(what tasks use is active, so must be listed), NS_GET_NSTYPE and NS_GET_USERNS of the fd an
id-only handle of each listed id decodes to, and one large call for the paginated union.
"""

from __future__ import annotations

import os

from .nsids import id_handle, id_witnesses, listns, ns_id, open_handle
from .nsops import NOBODY, become, enter_own_userns, ns_ioctl, unshare
from .procs import fork_call
from .registry import op
from .scene import start_holder
from .uapi import CLONE, LISTNS_CURRENT_USER, NS_GET_NSTYPE, NS_GET_USERNS

KINDS = ("user", "net", "uts", "ipc", "mnt", "cgroup", "pid", "time")


def _ids(r: dict):
    return r.get("ids", r.get("errno"))


def _n(i) -> int:
    """An id for a request field: 0 where NS_GET_ID gave an errno (listns is ENOSYS there)."""
    return i if isinstance(i, int) else 0


def _own_ids() -> dict:
    return {k: _id_at(f"/proc/self/ns/{k}") for k in KINDS}


def _id_at(path: str):
    fd = os.open(path, os.O_RDONLY)
    try:
        return ns_id(fd)
    finally:
        os.close(fd)


def _task_namespaces() -> dict:
    """{id: kind} of every namespace a live process uses (/proc/<pid>/ns/*, NS_GET_ID)."""
    out: dict = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for k in KINDS:
            try:
                i = _id_at(f"/proc/{pid}/ns/{k}")
            except OSError:
                continue
            if isinstance(i, int):
                out[i] = k
    return out


def _decoded(nid: int) -> dict:
    """What an id-only handle of *nid* opens: its NS_GET_NSTYPE and its owner's id."""
    r = open_handle(id_handle(nid))
    if "fd" not in r:
        return r
    try:
        t = ns_ioctl(r["fd"], NS_GET_NSTYPE)
        own = ns_ioctl(r["fd"], NS_GET_USERNS)
        owner = None
        if "ret" in own:
            owner = ns_id(own["ret"])
            os.close(own["ret"])
        return {"nstype": t.get("ret", t.get("errno")), "owner": owner or own.get("errno")}
    finally:
        os.close(r["fd"])


@op
def listns_lists() -> dict:
    """Items 49-50, as root in the initial namespaces, with U (uid 65534's user ns owning a
    new net and uts ns) alive: the whole list, per type, NET|UTS, by owner (init's user ns,
    LISTNS_CURRENT_USER, U, a netns id, an unknown id). References: every live process's
    namespaces, the type and owner of each listed id's decoded fd."""
    with start_holder("hold U: uid 65534's user+net+uts ns", kinds=("user", "net", "uts"),
                      as_uid=NOBODY) as u:  # fmt: skip
        U = {k: _id_at(u.ns(k)) for k in ("user", "net", "uts")}
        own = _own_ids()
        whole = listns()
        if "errno" in whole:
            return {"whole": whole["errno"], "own": own, "U": U}
        witness = id_witnesses(("net", "user", "mnt", "uts"))
        ids = whole["ids"]
        unknown = max(ids) + 100000
        return {
            "own": own,
            "witness": witness,
            "U": U,
            "whole": ids,
            "tasks use": _task_namespaces(),
            "decoded": {str(i): _decoded(i) for i in ids},
            "by type": {k: _ids(listns(ns_type=CLONE[k])) for k in KINDS},
            "NET|UTS": _ids(listns(ns_type=CLONE["net"] | CLONE["uts"])),
            "owner = init's user ns": _ids(listns(user_ns_id=own["user"])),
            "owner = LISTNS_CURRENT_USER": _ids(listns(user_ns_id=LISTNS_CURRENT_USER)),
            "owner = init's user ns, type USER": _ids(
                listns(user_ns_id=own["user"], ns_type=CLONE["user"])
            ),
            "owner = U": _ids(listns(user_ns_id=U["user"])),
            "owner = a netns id": _ids(listns(user_ns_id=U["net"])),
            "owner = an unknown id": _ids(listns(user_ns_id=unknown)),
        }


@op
def listns_pages_and_errors() -> dict:
    """Items 52 (and 49's order): pagination by 3 from 0 until it ends, resuming after the
    largest id (whole list and per type), a batch exactly the list's size then resuming,
    and every error case of the request. Reference: one large call."""
    whole = listns()
    if "errno" in whole:
        return {"whole": whole["errno"]}
    ids = whole["ids"]
    pages, last = [], 0
    for _ in range(len(ids) + 2):
        r = listns(last=last, n=3)
        pages.append(_ids(r))
        if "errno" in r or not r["ids"]:
            break
        last = r["ids"][-1]
    nets = _ids(listns(ns_type=CLONE["net"]))
    return {
        "whole": ids,
        "pages of 3": pages,
        "resume after the largest": _ids(listns(last=max(ids))),
        "resume after the largest but one": _ids(listns(last=sorted(ids)[-2])),
        "exact batch": _ids(listns(n=len(ids))),
        "resume after the exact batch": _ids(listns(last=max(ids), n=len(ids))),
        "resume after the largest netns id, NET": _ids(
            listns(ns_type=CLONE["net"], last=max(nets))
        ),
        "errors": {
            "flags 1": listns(flags=1),
            "nr 1000001": listns(n=1000001),
            "nr 1000000": {"n": len(listns(n=1000000).get("ids", []))},
            "size 24": listns(size=24),
            "size 8192": listns(size=8192),
            "size 40, zero tail": {"n": len(listns(size=40, extra=bytes(8)).get("ids", []))},
            "size 40, non-zero tail": listns(size=40, extra=b"\1" + bytes(7)),
            "spare 1": listns(spare=1),
            "spare2 1": {"n": len(listns(spare2=1).get("ids", []))},
            "ns_type 1": listns(ns_type=1),
            "ns_type 1<<31": listns(ns_type=1 << 31),
            "ids at address 1": listns(ids_ptr=1),
            "request at address 1": listns(req_ptr=1),
            "ids NULL, nr 0": listns(ids_ptr=0, n=0),
            "ids NULL, nr 5": listns(ids_ptr=0, n=5),
            "ids at a kernel address": listns(ids_ptr=0xFFFFFFFF81000000),
        },
    }


@op
def listns_visibility() -> dict:
    """Item 51: what listns shows callers that may not see everything — uid 65534 in the
    initial namespaces; root of a new user ns (as uid 65534) that unshared mnt, net, uts and
    ipc; root in a child pid ns (initial user ns) — each with its own namespaces' ids."""

    def nobody():
        become(NOBODY)
        own = _own_ids()
        return {"own": own, "all": _ids(listns()), "witness": id_witnesses(),
                "owner = init's user ns": _ids(listns(user_ns_id=_n(own["user"])))}  # fmt: skip

    def userns_root():
        become(NOBODY)
        enter_own_userns(CLONE["mnt"] | CLONE["net"] | CLONE["uts"] | CLONE["ipc"])
        own = _own_ids()
        return {"own": own, "all": _ids(listns()), "witness": id_witnesses(),
                "LISTNS_CURRENT_USER": _ids(listns(user_ns_id=LISTNS_CURRENT_USER)),
                "owner = its user ns": _ids(listns(user_ns_id=_n(own["user"])))}  # fmt: skip

    def pidns_root():
        unshare(CLONE["pid"])
        return fork_call(lambda: {"own": _own_ids(), "all": _ids(listns()),
                                  "witness": id_witnesses(("net", "pid"))})  # fmt: skip

    return {"uid 65534": fork_call(nobody), "root of a child user ns": fork_call(userns_root),
            "root in a child pid ns": fork_call(pidns_root)}  # fmt: skip
