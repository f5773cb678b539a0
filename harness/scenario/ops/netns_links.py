"""Typed ops of the netns-links area: catalogue items 53-57 (SO_NETNS_COOKIE and the
netns id, IFLA_NETNS_IMMUTABLE, creating devices in another netns, link netns on creation,
LISTEN_ALL_NSID events).

Each method mirrors a guest op of the same name and parameters
(guest/probes_netns_links.py) and is declared with @guest_op: its body is never run."""

from __future__ import annotations

from ...vm.agent import NsContext
from .base import OpsBase, guest_op


class NetnsLinksOps(OpsBase):
    @guest_op
    def netns_cookie_ids(self, ctx: NsContext | None = None) -> dict:
        """Item 53: socket cookies vs NS_GET_ID in init's and new netns."""

    @guest_op
    def netns_immutable_attr(self, ctx: NsContext | None = None) -> dict:
        """Item 54: IFLA_NETNS_IMMUTABLE of lo/dummy/veth/bridge; sending it; moves."""

    @guest_op
    def add_into_other_netns(self, ctx: NsContext | None = None) -> dict:
        """Item 55: creating a device in B under a name/ifindex only init has."""

    @guest_op
    def link_netns_on_create(self, ctx: NsContext | None = None) -> dict:
        """Items 56-57: IFLA_LINK_NETNSID on creation, and the events it sends."""

    @guest_op
    def all_nsid_events(self, ctx: NsContext | None = None) -> dict:
        """Item 57: the nsid a NETLINK_LISTEN_ALL_NSID listener is told."""
