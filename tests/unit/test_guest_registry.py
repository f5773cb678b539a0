"""One registry of guest ops, mirrored by typed host methods: each @guest_op method names
an op the guest really has, with the same parameters; each guest op has a host method
(or is one the harness itself calls). The registry is filled by an explicit list of
modules (registry.OP_MODULES): it names every module that uses @op, each op once, and the
guest package is an island (the standard library and itself, relative imports only)."""

import ast
import importlib
import inspect
import re
import sys

from harness.guest import registry
from harness.host.resources import guest_code
from harness.scenario.ops import Agent

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
    """The registry as the guest agent builds it (importing the agent imports OP_MODULES)."""
    importlib.import_module("harness.guest.agent")
    reg = importlib.import_module("harness.guest.registry")
    assert reg.__file__ == str(guest_code() / "registry.py")
    return dict(reg.OPS)


def guest_sources() -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted(guest_code().glob("*.py"))}


def typed_methods() -> dict:
    return {
        m.guest_op: m
        for _, m in inspect.getmembers(Agent, predicate=inspect.isfunction)
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
        assert name in ops, f"Agent.{name} has no guest op {name}"
        assert _params(method) == _params(ops[name], drop=()), (
            f"Agent.{name} parameters {_params(method)} differ from the guest op's "
            f"{_params(ops[name], drop=())} (name: required?)"
        )


def test_every_guest_op_has_a_typed_method():
    ops = guest_ops()
    typed = set(typed_methods())
    missing = sorted(set(ops) - typed - HARNESS_OPS)
    assert not missing, f"guest ops without a typed host method: {missing}"


def test_op_modules_name_every_module_that_registers_ops():
    """Read apart from the registry's own parser: a line `@op` marks a module that
    registers ops, and the agent loads only what OP_MODULES lists."""
    using = {m for m, text in guest_sources().items() if re.search(r"^@op$", text, re.M)}
    assert len(set(registry.OP_MODULES)) == len(registry.OP_MODULES), registry.OP_MODULES
    assert set(registry.OP_MODULES) == using, (
        f"not listed: {sorted(using - set(registry.OP_MODULES))}; "
        f"listed without an op: {sorted(set(registry.OP_MODULES) - using)}"
    )


def test_every_op_is_registered_once_by_the_module_the_index_names():
    """op_index() maps each op to its module from the sources alone (what loading a module
    on the first use of one of its ops will need); importing them agrees with it."""
    sources = guest_sources()
    defined = [n for m in registry.OP_MODULES for n in registry.defined_ops(sources[m])]
    assert len(defined) == len(set(defined)), sorted(n for n in defined if defined.count(n) > 1)
    index = registry.op_index()
    ops = guest_ops()
    assert set(index) == set(ops)
    for name, fn in ops.items():
        assert fn.__module__ == f"harness.guest.{index[name]}", (name, fn.__module__)


def test_guest_package_is_an_island():
    """The guest runs as its own package in the VM: it imports the standard library and
    itself (relatively), nothing else of harness, and touches no sys.path."""
    for module, text in guest_sources().items():
        assert "sys.path" not in text, module
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, (module, node.module)
                continue
            if isinstance(node, ast.ImportFrom):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", (module, name)
