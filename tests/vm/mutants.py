"""One-line kernel mutants of Debian's linux-source-6.1, each breaking one namespace
behaviour, and the tests each must turn red — the harness's own proof that a verdict
names what broke and nothing else goes red with it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str  # one line of the 6.1 source, exactly
    new: str
    breaks: str  # the behaviour, in words
    red: frozenset[str]  # test functions that must go red (on this kernel, nothing else)
    words: tuple[str, ...]  # what the red tests' first message line must mention (any of)


MUTANTS = (
    Mutant(
        "veth-keeps-peer",
        "drivers/net/veth.c",
        "\t\tunregister_netdevice_queue(peer, head);",
        "\t\t/* nsharness mutant: the peer is not deleted with its veth */",
        "deleting one end of a veth pair no longer deletes its peer",
        frozenset(),  # filled from the suite: see test_mutants.py
        ("veth", "peer"),
    ),
    Mutant(
        "lo-moves",
        "net/core/dev.c",
        "\tif (dev->features & NETIF_F_NETNS_LOCAL)",
        "\tif (0 && (dev->features & NETIF_F_NETNS_LOCAL))",
        "netns-local devices (lo, bridges) can be moved to another namespace",
        frozenset(),
        ("lo", "bridge", "move", "netns"),
    ),
    Mutant(
        "sysfs-mount-unchecked",
        "fs/sysfs/mount.c",
        "\t\tif (!kobj_ns_current_may_mount(KOBJ_NS_TYPE_NET))",
        "\t\tif (0 && !kobj_ns_current_may_mount(KOBJ_NS_TYPE_NET))",
        "mounting sysfs no longer needs CAP_SYS_ADMIN over the netns owner's user namespace",
        frozenset(),
        ("sysfs", "EPERM"),
    ),
    Mutant(
        "setns-skips-caller-caps",
        "net/core/net_namespace.c",
        "\t    !ns_capable(nsset->cred->user_ns, CAP_SYS_ADMIN))",
        "\t    0)  /* nsharness mutant: the caller's own user ns is not checked */",
        "setns into a netns no longer needs CAP_SYS_ADMIN in the caller's user namespace",
        frozenset(),
        ("EPERM", "CAP_SYS_ADMIN"),
    ),
)
