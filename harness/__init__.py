"""nsharness: boot real kernels under QEMU and prove Linux namespace behaviours over SSH."""

__version__ = "0.1.0"
