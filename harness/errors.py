"""Errors the harness reports to a user as one clear line (never a traceback).

Each class carries the exit code `nsharness` returns for it: 2 for a usage mistake (a bad
option value), 4 for a bad input file (a kernel image, a module tree, a report), 3 for
everything the environment or the guest did wrong.
"""


class HarnessError(Exception):
    """A failure with a message fit to print on its own line and exit non-zero."""

    exit_code = 3


class UsageError(HarnessError):
    """The command line asks for something impossible (a bad option combination)."""

    exit_code = 2


class InputError(HarnessError):
    """A file the user pointed at is missing, unreadable or not what it should be."""

    exit_code = 4


class KernelError(InputError):
    """The kernel given cannot be used: unreadable, not a bzImage, missing options."""


class ImageError(HarnessError):
    """The guest image could not be built."""


class BootError(HarnessError):
    """The guest did not come up; the message carries the console's last lines."""


class GuestDied(HarnessError):
    """The guest stopped (panic, QEMU exit) while it was in use."""


class CommandTimeout(HarnessError):
    """A guest command ran past its timeout."""


class CommandFailed(HarnessError):
    """A guest command run with check=True exited non-zero."""


class GuestOpError(HarnessError):
    """A guest operation raised: `errno` holds the errno name (EINVAL, EPERM...) if any,
    `type` the guest exception's class name, `detail` what the guest sent."""

    def __init__(self, op: str, error: dict):
        self.op = op
        self.errno = error.get("errno")
        self.type = error.get("type")
        self.detail = error
        super().__init__(f"guest op {op} raised {error.get('type')}: {error.get('msg')}")


class SetupStepFailed(Exception):
    """A step that only prepares the scene failed: the test could not observe anything.

    Not a HarnessError: it ends a test as a setup error, never a run."""

    def __init__(self, step: str, detail: str):
        self.step, self.detail = step, detail
        super().__init__(f"setup step failed: {step}: {detail}")
