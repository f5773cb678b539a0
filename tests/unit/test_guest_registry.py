"""One registry of guest ops, mirrored by typed host methods: each @guest_op method names
an op the guest really has, with the same parameters; each guest op has a host method
(or is one the harness itself calls)."""

import importlib
import inspect

from harness.ops import Guest
from harness.resources import guest_code

#: Ops the harness calls itself (fixtures, lifecycle, the agent's handshake) or wraps in a
#: hand-written typed method (links, sh, link_up...).
HARNESS_OPS = {
    "hello",
    "kmsg_mark",
    "kmsg_since",
    "init_state",
    "after_test",
    "restore_init_state",
    "netns_create",
    "netns_destroy",
    "netns_forget",
    "nsid_alive",
    "ns_hold",
    "ns_release",
    "links",
    "sh",
    "link_up",
}


def guest_ops() -> dict:
    """The registry as the guest agent builds it (importing the agent imports its ops)."""
    importlib.import_module("harness.guest.agent")
    reg = importlib.import_module("harness.guest.registry")
    assert reg.__file__ == str(guest_code() / "registry.py")
    return dict(reg.OPS)


def typed_methods() -> dict:
    return {
        m.guest_op: m
        for _, m in inspect.getmembers(Guest, predicate=inspect.isfunction)
        if hasattr(m, "guest_op")
    }


def _params(fn, drop=("self", "ctx", "wait")) -> dict:
    return {
        n: p.default is inspect.Parameter.empty
        for n, p in inspect.signature(fn).parameters.items()
        if n not in drop
    }


def test_every_typed_method_matches_a_guest_op():
    ops = guest_ops()
    for name, method in typed_methods().items():
        assert name in ops, f"Guest.{name} has no guest op {name}"
        assert _params(method) == _params(ops[name], drop=()), (
            f"Guest.{name} parameters {_params(method)} differ from the guest op's "
            f"{_params(ops[name], drop=())} (name: required?)"
        )


def test_every_guest_op_has_a_typed_method():
    ops = guest_ops()
    typed = set(typed_methods())
    missing = sorted(set(ops) - typed - HARNESS_OPS)
    assert not missing, f"guest ops without a typed host method: {missing}"
