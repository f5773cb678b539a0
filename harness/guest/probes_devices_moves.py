"""Guest probes of test_devices_moves.py, clashes when a device enters a netns: moving a
device whose name, altname or ifindex the target already has (item 33, v3), and creating
one in another netns under a name the caller's netns has (34).

Other netns are held by processes started in them (netns_holders.py); where each device is
afterwards is read three ways (outside_views.py). Ops return raw observations; the host
decides. Everything made in init is deleted in `finally`.
"""

from __future__ import annotations

import os

from . import rtnl
from .netns_holders import netns_holder, open_netns, rtnl_in
from .outside_views import delete_if_present, link_in, present, read_attr
from .registry import op
from .scene import need
from .views import ifindex, net_dev_names

# ------------------------------------------------------------------ item 33, v3


@op
def move_name_clash() -> dict:
    """nsh33 exists in init and in B. Move init's to B: the reply, and both netns after.
    Then the same move with IFLA_IFNAME=nsh33r in the same request."""
    with netns_holder("hold netns B (own sysfs)", sysfs=True) as B, rtnl_in(None) as nl:
        fd = open_netns(B)
        try:
            need(nl.add("nsh33"), "create dummy nsh33 in init")
            with rtnl_in(B) as nlb:
                need(nlb.add("nsh33"), "create dummy nsh33 in B")
                b_idx = nlb.index_of("nsh33")
            i_idx = nl.index_of("nsh33")
            out = {"move": nl.set(index=i_idx, netns_fd=fd)}
            out["init after"] = {
                **present(None, "nsh33"),
                "ifindex": nl.index_of("nsh33"),
                "ifindex before": i_idx,
            }
            out["B after"] = {
                "nsh33 in /proc/net/dev": net_dev_names(B.pid).count("nsh33"),
                "ifindex": (link_in(B, "nsh33") or {}).get("index"),
                "ifindex before": b_idx,
            }
            out["move renamed"] = nl.set(index=i_idx, netns_fd=fd, ifname="nsh33r")
            out["nsh33r in B"] = present(B, "nsh33r")
            out["nsh33 in init after the renaming move"] = present(None, "nsh33")
        finally:
            os.close(fd)
            delete_if_present("nsh33")
    return out


@op
def move_altname_clash() -> dict:
    """Altnames on move. Init: nsh33a with altname nsh33alt. B: nsh33b with altname
    nsh33alt (same string, other netns), nsh33c with altname "nsh33a" (init's *name*).
    Move each to init. Then nsh33m (altname nsh33malt) moved init -> B: who resolves the
    altname where, and who may reuse it."""
    with netns_holder("hold netns B (own sysfs)", sysfs=True) as B, rtnl_in(None) as nl:
        fd_b, fd_i = open_netns(B), open_netns(None)
        nlb = rtnl_in(B)
        out: dict = {}
        try:
            need(nl.add("nsh33a"), "create dummy nsh33a in init")
            need(nl.altname_add("nsh33alt", "nsh33a"), "altname nsh33alt on init's nsh33a")
            need(nlb.add("nsh33b"), "create dummy nsh33b in B")
            out["altname nsh33alt on B's nsh33b"] = nlb.altname_add("nsh33alt", "nsh33b")
            need(nlb.add("nsh33c"), "create dummy nsh33c in B")
            need(nlb.altname_add("nsh33a", "nsh33c"), "altname nsh33a on B's nsh33c")
            out["move nsh33b to init"] = nlb.set("nsh33b", netns_fd=fd_i)
            out["nsh33b in B after"] = present(B, "nsh33b")
            out["init resolves nsh33alt to"] = (nl.link(altname="nsh33alt") or {}).get("ifname")
            out["move nsh33c to init"] = nlb.set("nsh33c", netns_fd=fd_i)
            out["nsh33c in B after"] = present(B, "nsh33c")
            need(nl.add("nsh33m"), "create dummy nsh33m in init")
            need(nl.altname_add("nsh33malt", "nsh33m"), "altname nsh33malt on nsh33m")
            need(nl.set("nsh33m", netns_fd=fd_b), "move nsh33m to B")
            out["B resolves nsh33malt to"] = (nlb.link(altname="nsh33malt") or {}).get("ifname")
            out["B's nsh33m altnames"] = (nlb.link("nsh33m") or {}).get("altnames")
            out["init resolves nsh33malt to"] = (nl.link(altname="nsh33malt") or {}).get("ifname")
            need(nl.add("nsh33n"), "create dummy nsh33n in init")
            out["init gives nsh33malt to nsh33n"] = nl.altname_add("nsh33malt", "nsh33n")
            need(nlb.add("nsh33o"), "create dummy nsh33o in B")
            out["B gives nsh33malt to nsh33o"] = nlb.altname_add("nsh33malt", "nsh33o")
        finally:
            nlb.close()
            os.close(fd_b)
            os.close(fd_i)
            delete_if_present("nsh33a", "nsh33b", "nsh33c", "nsh33n")
    return out


def _add_at(r: rtnl.Rtnl, name: str, index: int) -> dict:
    """RTM_NEWLINK dummy *name* with ifi_index *index* (creation at a chosen ifindex)."""
    body = rtnl.ifinfo(index) + rtnl.astr(rtnl.IFLA_IFNAME, name)
    body += rtnl.nest(rtnl.IFLA_LINKINFO, rtnl.astr(rtnl.IFLA_INFO_KIND, "dummy"))
    res = r.req(rtnl.RTM_NEWLINK, rtnl.NLM_F_CREATE | rtnl.NLM_F_EXCL, body)
    return {"errno": res["errno"], "extack": res["extack"]}


@op
def move_ifindex_clash() -> dict:
    """Init has nsh33i at ifindex X; B has nsh33j at X and nsh33k at X+1 (free in init).
    Move nsh33j to init asking for IFLA_NEW_IFINDEX=X, then without asking; move nsh33k.
    The ifindex each got, read three ways in init: RTM_GETLINK, sysfs, SIOCGIFINDEX."""
    with netns_holder("hold netns B") as B, rtnl_in(None) as nl:
        fd_i = open_netns(None)
        nlb = rtnl_in(B)
        try:
            x = next(
                i
                for i in range(3333, 4000, 2)
                if nl.link(index=i) is None and nl.link(index=i + 1) is None
            )
            need(_add_at(nl, "nsh33i", x), f"create dummy nsh33i at ifindex {x} in init")
            need(_add_at(nlb, "nsh33j", x), f"create dummy nsh33j at ifindex {x} in B")
            need(_add_at(nlb, "nsh33k", x + 1), f"create dummy nsh33k at ifindex {x + 1} in B")
            out: dict = {"X": x, "nsh33i": nl.index_of("nsh33i")}
            out["move nsh33j asking for X"] = nlb.set(index=x, netns_fd=fd_i, new_ifindex=x)
            out["move nsh33j"] = nlb.set(index=x, netns_fd=fd_i)
            out["move nsh33k"] = nlb.set(index=x + 1, netns_fd=fd_i)
            for name in ("nsh33j", "nsh33k"):
                out[name] = {
                    "RTM_GETLINK": nl.index_of(name),
                    "sysfs": read_attr(None, name, "ifindex"),
                    "SIOCGIFINDEX": ifindex(name),
                }
            out["nsh33i after"] = nl.index_of("nsh33i")
        finally:
            nlb.close()
            os.close(fd_i)
            delete_if_present("nsh33i", "nsh33j", "nsh33k")
    return out


# ------------------------------------------------------------------ item 34


@op
def add_in_other_netns_name_clash() -> dict:
    """RTM_NEWLINK (NLM_F_CREATE|NLM_F_EXCL) from init with IFLA_NET_NS_FD=B: under a name
    only init has (nsh34), under a name only B has (nsh34e), a fresh name (control); then the
    first again without NLM_F_EXCL. Where the devices are after each."""
    with netns_holder("hold netns B (own sysfs)", sysfs=True) as B, rtnl_in(None) as nl:
        fd = open_netns(B)
        try:
            need(nl.add("nsh34"), "create dummy nsh34 in init")
            idx = nl.index_of("nsh34")
            with rtnl_in(B) as nlb:
                need(nlb.add("nsh34e"), "create dummy nsh34e in B")
            out = {"add nsh34 into B": nl.add("nsh34", netns_fd=fd)}
            out["nsh34 in B after"] = present(B, "nsh34")
            out["init's nsh34 after"] = {"ifindex": nl.index_of("nsh34"), "ifindex before": idx}
            out["add nsh34e into B"] = nl.add("nsh34e", netns_fd=fd)
            out["nsh34e in init after"] = present(None, "nsh34e")
            out["add nsh34f into B (control)"] = nl.add("nsh34f", netns_fd=fd)
            out["nsh34f in B after"] = present(B, "nsh34f")
            out["add nsh34 into B without NLM_F_EXCL"] = nl.add(
                "nsh34", netns_fd=fd, flags=rtnl.NLM_F_CREATE
            )
            out["nsh34 in init after no-EXCL"] = present(None, "nsh34")
            out["nsh34 in B after no-EXCL"] = {
                **present(B, "nsh34"),
                "ifindex": (link_in(B, "nsh34") or {}).get("index"),
            }
            out["init's nsh34 after no-EXCL"] = {"ifindex": nl.index_of("nsh34")}
            # The same request into C, which has no nsh34 on any version: init's nsh34
            # (made again where the step before moved it away) is found and moved.
            if nl.link("nsh34") is None:
                need(nl.add("nsh34"), "create dummy nsh34 in init again")
            idx_c = nl.index_of("nsh34")
            with netns_holder("hold netns C (own sysfs)", sysfs=True) as C:
                fdc = open_netns(C)
                try:
                    out["add nsh34 into C without NLM_F_EXCL"] = nl.add(
                        "nsh34", netns_fd=fdc, flags=rtnl.NLM_F_CREATE
                    )
                finally:
                    os.close(fdc)
                out["nsh34 in init after no-EXCL into C"] = present(None, "nsh34")
                out["nsh34 in C after no-EXCL"] = {
                    **present(C, "nsh34"),
                    "ifindex": (link_in(C, "nsh34") or {}).get("index"),
                    "init's ifindex before": idx_c,
                }
        finally:
            os.close(fd)
            delete_if_present("nsh34", "nsh34e", "nsh34f")
    return out
