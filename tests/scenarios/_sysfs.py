"""What the sysfs-views scenarios (test_sysfs_*.py) share: preconditions that are setup
steps, not verdicts; tables of expectations; uevents as text."""

from harness.scenario.verdict import Findings, SetupStepFailed

AT_MOUNT = "a sysfs mount shows the netns its mounter was in at mount time"


def require(ok: bool, step: str, detail) -> None:
    """A precondition of the scene (not the behaviour under test) must hold."""
    if not ok:
        raise SetupStepFailed(step, str(detail))


def made(info: dict, name: str, where: str) -> None:
    """A holder's setup created dummy *name* in its netns (a scene step)."""
    require(not info.get("errno"), f"create dummy {name} in {where}", info.get("errno"))


def expect_rows(f: Findings, rows) -> None:
    """f.expect() for each (observed, expected, what, why)."""
    for observed, expected, what, why in rows:
        f.expect(observed, expected, what=what, why=why)


def show(events: list) -> str:
    """Uevents [action, name, old name, ...] as "[add@x, move@y(from x)]"."""
    out = [f"{a}@{n}" + (f"(from {o})" if a == "move" else "") for a, n, o, *_ in events]
    return "[" + ", ".join(out) + "]"
