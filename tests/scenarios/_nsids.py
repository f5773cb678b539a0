"""What the scenarios of items 38-71 share: the witness check for namespace ids.

Several tests take their references from NS_GET_ID (the ids listns must list, the handles
to decode, the cookie to compare). A probe carries, next to NS_GET_ID, the same
namespace's nsfs handle ns_id: two kernel paths to one id. If they disagree, the id is no
reference: the test is not judged (items 38 and 41 judge which of the two is wrong),
rather than failing a behaviour that did not change."""

from harness.scenario import Findings, NotJudged


def ids_agree(f: Findings, witness: dict, where: str) -> None:
    """NotJudged if NS_GET_ID and the nsfs handle disagree on any of *witness*'s
    namespaces ({kind: [NS_GET_ID, handle ns_id]}; errno names where a kernel has neither
    are no disagreement). What *f* found so far is reported first, as a failure."""
    bad = {k: v for k, v in witness.items()
           if all(isinstance(x, int) for x in v) and v[0] != v[1]}  # fmt: skip
    if bad:
        f.done()
        raise NotJudged(f"NS_GET_ID and the nsfs handle's ns_id disagree {where}: {bad} "
                        "[NS_GET_ID, handle]", blocked_by=[38, 41])  # fmt: skip


def odd_one(by_ioctl, by_handle, listed) -> str | None:
    """Of NS_GET_ID's and the handle's ids for one namespace that differ, which one is
    wrong, by listns as the third witness: "handle", "NS_GET_ID", or None (listns cannot
    tell: neither or both listed, or no listns)."""
    if not isinstance(listed, list):
        return None
    a, b = by_ioctl in listed, by_handle in listed
    return "handle" if a and not b else "NS_GET_ID" if b and not a else None
