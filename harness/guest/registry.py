"""The one registry of guest operations, and the one list of the modules that fill it.

A function becomes callable from the host by decorating it with @op in one of the modules
OP_MODULES names; the agent imports exactly those. The host's typed methods (scenario/ops/)
mirror this registry, and a unit test checks the two agree name by name and parameter by
parameter, that OP_MODULES names every module that uses @op, and that each op is
registered once. op_index() maps each op to its module from the sources alone, without
importing them (what loading a module on the first use of one of its ops needs).
"""

from __future__ import annotations

OPS: dict = {}

#: Every module of this package that registers ops, by name: the agent imports these.
OP_MODULES = (
    "lifecycle",  # the handshake, netns and holders the harness makes, the kernel log
    "state",  # the initial namespaces' state around each test
    "views",  # one context's devices through each interface; sh, link_up...
    "probes_sysfs_views",
    "probes_sysfs_mounts",
    "probes_sysfs_moves",
    "probes_setns_rules",
    "probes_setns_joins",
    "probes_lifetime",
    "probes_nsfs_ioctls",
    "probes_sockets",
    "probes_sockets_per_netns",
    "probes_devices",
    "probes_devices_links",
    "probes_device_nodes",
    "probes_devices_moves",
    "probes_nsfs_ids",
    "probes_active_refs",
    "probes_listns",
    "probes_netns_links",
    "probes_userns_mounts",
    "probes_pidfd_info",
    "probes_pid_namespaces",
    "probes_mntns_from_fds",
)


class SetupError(Exception):
    """A step that only sets the scene failed: "<step>: <what happened>". The host reports
    it as a setup error naming the step, never as a verdict on the behaviour under test."""


def op(fn):
    if fn.__name__ in OPS:
        raise RuntimeError(f"guest op {fn.__name__} registered twice")
    OPS[fn.__name__] = fn
    return fn


def defined_ops(source: str) -> list[str]:
    """The names of the top-level functions a module's *source* decorates with @op."""
    import ast

    return [
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef)
        and any(isinstance(d, ast.Name) and d.id == "op" for d in node.decorator_list)
    ]


def op_index(package_dir: str | None = None) -> dict[str, str]:
    """{op name: module name} for every op the OP_MODULES define, read from their sources
    in *package_dir* (this package's directory by default); an op defined twice raises."""
    import os

    here = package_dir or os.path.dirname(os.path.abspath(__file__))
    index: dict[str, str] = {}
    for module in OP_MODULES:
        with open(os.path.join(here, f"{module}.py")) as f:
            names = defined_ops(f.read())
        for name in names:
            if name in index:
                raise RuntimeError(f"guest op {name} defined in {index[name]} and {module}")
            index[name] = module
    return index
