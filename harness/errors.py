"""Errors the harness reports to a user as one clear line (never a traceback)."""


class HarnessError(Exception):
    """A failure with a message fit to print on its own line and exit non-zero."""


class KernelError(HarnessError):
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
