"""Setting a probe's scene: a step that fails is a SetupError naming it.

Every probe builds its own scene (holders in new namespaces, devices, mounts) before it
observes anything. A failed step of that kind is no observation: it raises SetupError,
which the host reports as a setup error naming the step — never as a verdict on the
behaviour under test. These are the wrappers that turn a step's failure into one.
"""

from __future__ import annotations

from .procs import Holder, fork_call
from .registry import SetupError


def step(what: str, fn, *args, **kw):
    """fn(*args, **kw), or a SetupError naming *what*."""
    try:
        return fn(*args, **kw)
    except OSError as e:
        raise SetupError(f"{what}: {e}") from None


def need(res: dict, what: str) -> dict:
    """A netlink reply of a step that only sets the scene: its error is a SetupError."""
    if res.get("errno"):
        raise SetupError(f"{what}: {res['errno']} {res.get('extack') or ''}".rstrip())
    return res


def start_holder(what: str, **kw) -> Holder:
    """A Holder (a process in new namespaces, see procs.Holder), or a SetupError naming
    *what* it was for."""
    try:
        return Holder(**kw)
    except OSError as e:
        raise SetupError(f"{what}: {e}") from None


def in_child(what: str, fn, *args):
    """fn(*args) in a forked child (free to change its namespaces and credentials); a
    SetupError there comes back as one here, any other exception as a harness error."""

    def wrapped():
        try:
            return {"ok": fn(*args)}
        except SetupError as e:
            return {"setup_error": str(e)}

    r = fork_call(wrapped)
    if "setup_error" in r:
        raise SetupError(r["setup_error"])
    if "exception" in r:
        raise RuntimeError(f"{what}: probe child raised {r['exception']}\n{r.get('trace')}")
    return r["ok"]
