"""How a typed host method becomes a guest op call.

A method decorated with @guest_op has the name and parameters of the guest op it mirrors
(harness/guest/, registered there with @op by the modules registry.OP_MODULES names); its
body is never run: the decorator sends the call, with the NsContext as `ctx`. A unit test
checks every decorated method against the guest registry, name by name and parameter by
parameter."""

from __future__ import annotations

import functools
import inspect

from ...errors import GuestOpError, SetupStepFailed
from ...vm.agent import AgentChannel, NsContext


def guest_op(fn):
    sig = inspect.signature(fn)

    @functools.wraps(fn)
    def call(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        params = dict(bound.arguments)
        params.pop("self")
        ctx = params.pop("ctx", None)
        wait = params.pop("wait", 60.0)  # the host's patience, not an op argument
        return self.channel.call(fn.__name__, ctx=ctx, wait=wait, **params)

    call.guest_op = fn.__name__
    return call


class OpsBase:
    """What every group of typed ops shares: the agent's channel, raw calls, setup steps."""

    def __init__(self, channel: AgentChannel):
        self.channel = channel

    def call(self, op: str, ctx: NsContext | None = None, **args):
        """An op by name (for ops without a typed method, e.g. a user's own)."""
        return self.channel.call(op, ctx=ctx, **args)

    def step(self, what: str, op: str, ctx: NsContext | None = None, **args):
        """Run an op that only sets the scene: any failure is a SetupStepFailed."""
        try:
            return self.channel.call(op, ctx=ctx, **args)
        except GuestOpError as e:
            raise SetupStepFailed(what, str(e)) from None
