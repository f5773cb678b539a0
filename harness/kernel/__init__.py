"""Kernels: what a kernel is (model), how a `--kernel` value resolves to one (resolve: a
path through files, a Debian package through debian), and how a source tree becomes one
(build). The image, config and modules parsers (bzimage, kconfig, fingerprint) sit below."""

from .files import load_kernel
from .model import Kernel, Provenance, unique_labels
from .resolve import DEFAULT_SPEC, resolve

__all__ = ["DEFAULT_SPEC", "Kernel", "Provenance", "load_kernel", "resolve", "unique_labels"]
