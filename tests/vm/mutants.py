"""One-line kernel mutants of Debian's linux-source-6.1 (MUTANTS) and -7.2 (MUTANTS_72),
each breaking one namespace behaviour, and the tests each must turn red — the harness's own
proof that a verdict names what broke and nothing else goes red with it."""

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
    series: str = "6.1"  # the Debian linux-source-X.Y it is a line of


MUTANTS = (
    Mutant(
        "veth-keeps-peer",
        "drivers/net/veth.c",
        "\t\tunregister_netdevice_queue(peer, head);",
        "\t\t/* nsharness mutant: the peer is not deleted with its veth */",
        "deleting one end of a veth pair no longer deletes its peer",
        frozenset(
            {
                "test_deleting_one_veth_end_deletes_its_peer_in_the_other_netns",
                "test_a_dying_netns_takes_its_veth_ends_along",
                "test_netns_destruction_is_seen_on_every_channel_and_completes",
            }
        ),
        ("veth", "peer"),
    ),
    Mutant(
        "lo-moves",
        "net/core/dev.c",
        "\tif (dev->features & NETIF_F_NETNS_LOCAL)",
        "\tif (0 && (dev->features & NETIF_F_NETNS_LOCAL))",
        "netns-local devices (lo, bridges) can be moved to another namespace",
        frozenset(
            {
                "test_lo_and_a_bridge_cannot_change_netns",
            }
        ),
        ("lo", "bridge", "move", "netns"),
    ),
    Mutant(
        "sysfs-owner-kept",
        "net/core/dev.c",
        "\terr = netdev_change_owner(dev, net_old, net);",
        "\terr = 0;  /* nsharness mutant: sysfs ownership does not follow the move */",
        "a moved device's sysfs files keep their owner instead of the new netns owner's",
        frozenset(
            {
                "test_attribute_owner_follows_the_netns_owner_and_counters_survive_a_move",
            }
        ),
        ("owner", "sysfs", "mtu"),
    ),
    Mutant(
        "setns-skips-caller-caps",
        "net/core/net_namespace.c",
        "\t    !ns_capable(nsset->cred->user_ns, CAP_SYS_ADMIN))",
        "\t    0)  /* nsharness mutant: the caller's own user ns is not checked */",
        "setns into a netns no longer needs CAP_SYS_ADMIN in the caller's user namespace",
        frozenset(
            {
                "test_setns_netns_needs_cap_sys_admin_over_its_owner_and_in_the_callers_userns",
            }
        ),
        ("EPERM", "CAP_SYS_ADMIN"),
    ),
)

#: Breaks what every op in a network-namespace context rests on, so it cannot turn "exactly"
#: a few tests red: every red test must instead be a failure naming sockets (never a setup
#: error), and the two tests of the behaviour itself must be among them.
SOCKETS_IN_INIT = Mutant(
    "sock-create-init-net",
    "net/socket.c",
    "\treturn __sock_create(current->nsproxy->net_ns, family, type, protocol, res, 0);",
    "\treturn __sock_create(&init_net, family, type, protocol, res, 0);",
    "socket() creates every socket in the initial netns, whatever its creator's",
    frozenset(
        {
            "test_socket_created_after_setns_stays_in_that_netns_after_switching_back",
            "test_socketat_idioms_create_sockets_in_the_target_netns",
        }
    ),
    ("socket",),
)

#: Mutants of linux-source-7.2 (the behaviours added since 6.12: catalogue items 38-71). On
#: that tree the unmutated suite has red tests of its own (kernel changes the suite judges as
#: it should, items 9, 24, 34 at the time of writing): a mutant must add exactly its tests.
MUTANTS_72 = (
    Mutant(
        "listns-shows-all",
        "kernel/nstree.c",
        "\treturn may_see_all_namespaces();",
        "\treturn true;  /* nsharness mutant: listns lists every namespace to anyone */",
        "listns(2) lists every namespace to callers without privilege in the initial namespaces",
        frozenset({"test_listns_shows_callers_without_init_privilege_only_their_own_namespaces"}),
        ("listns",),
        series="7.2",
    ),
    Mutant(
        "nsfs-close-keeps-active",
        "fs/nsfs.c",
        "\t__ns_ref_active_put(ns);",
        "\t/* nsharness mutant: an evicted nsfs inode keeps its namespace active */",
        "closing the last nsfs file (fd, bind mount) of a namespace leaves it active",
        frozenset(
            {
                "test_a_task_an_nsfs_fd_or_a_pidfd_ns_fd_keeps_a_netns_active_a_socket_alone_does_not",
                "test_a_bind_mount_keeps_a_netns_active_until_it_is_unmounted",
                "test_siocgskns_reactivates_a_netns_and_its_owner_until_its_fd_is_closed",
            }
        ),
        ("listns", "active"),
        series="7.2",
    ),
    Mutant(
        "nsfs-handle-skips-permission",
        "fs/nsfs.c",
        "\tif (owning_ns && !may_see_all_namespaces()) {",
        "\tif (0 && owning_ns && !may_see_all_namespaces()) {  /* nsharness mutant */",
        "open_by_handle_at(FD_NSFS_ROOT) decodes any namespace's handle for anyone",
        frozenset(
            {
                "test_open_by_handle_at_nsfs_root_reopens_own_namespaces_and_others_only_for_init_root"
            }
        ),
        ("open_by_handle_at",),
        series="7.2",
    ),
)
