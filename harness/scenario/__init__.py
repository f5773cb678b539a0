"""What a namespace scenario is written with (the public API of tests, ours and users'):
version and config gates (gates), verdicts that name the behaviour (verdict), namespaces as
a test holds them (netns) and the typed guest operations the `agent` fixture yields (ops)."""

from . import gates, verdict
from .gates import *  # noqa: F403
from .verdict import *  # noqa: F403

__all__ = [*gates.__all__, *verdict.__all__]
