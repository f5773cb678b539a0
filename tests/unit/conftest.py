"""Real inputs for the unit tests: the two Debian cloud kernels (fetched once, cached)."""

import pytest

from harness import kernel
from harness.errors import KernelError


@pytest.fixture(scope="session", params=["debian:6.1", "debian:6.12"])
def debian_kernel(request) -> kernel.Kernel:
    try:
        return kernel.resolve(request.param)
    except KernelError as e:
        pytest.skip(f"cannot fetch {request.param}: {e}")
