"""Version gates as scenarios state them: kernel_version() from a release and the Debian
package version, and Boundary's per-version answer ("old", "new", "either" inside a window
whose release is unknown) and the note a message quotes."""

from pathlib import Path

import pytest

from harness.kernel.model import Kernel, Provenance
from harness.scenario import Boundary, kernel_version


def kernel(release: str, package_version: str | None = None) -> Kernel:
    return Kernel(
        image=Path("/nonexistent"),
        version=f"{release} (builder) #1 SMP",
        config_text="",
        config_source="test",
        modules=None,
        provenance=Provenance(
            "debian" if package_version else "file", release, package_version=package_version
        ),  # fmt: skip
        image_hash="0" * 64,
        modules_hash=None,
    )


@pytest.mark.parametrize(
    ("release", "pv", "want"),
    [
        ("6.1.0-57-cloud-amd64", "6.1.192-3", (6, 1, 192)),
        ("6.12.118+deb12-cloud-amd64", "6.12.118-1~deb12u1", (6, 12, 118)),
        ("7.2.13+deb14-cloud-amd64", None, (7, 2, 13)),
        ("7.3-cloud-amd64", None, (7, 3, 0)),
        ("7.3.4+deb13-cloud-amd64", "7.3.4-1~bpo13+1", (7, 3, 4)),
    ],
)
def test_kernel_version_of_the_four_debian_series(release, pv, want):
    assert kernel_version(kernel(release, pv)) == want


def test_a_boundary_says_old_or_new_and_where_its_number_comes_from():
    b = Boundary("NS_GET_ID", (6, 18))
    assert [b.state(kernel(r)) for r in ("6.12.118+deb12-cloud-amd64", "6.18-x", "7.2.13-x")] == [
        "old",
        "new",
        "new",
    ]
    assert b.has(kernel("6.19.1-x")) and not b.has(kernel("6.17.9-x"))
    assert b.note() == "NS_GET_ID is new in 6.18 (boundary from source, unverified)"
    assert Boundary("AT_HANDLE_FID", (6, 5), verified=True).note() == "AT_HANDLE_FID is new in 6.5"


def test_a_boundary_with_an_unknown_release_accepts_either_inside_its_window():
    b = Boundary("subset=pid hiding /proc/<pid>/net", (7, 2), window=(6, 12))
    states = [b.state(kernel(r)) for r in ("6.12.118-x", "6.13-x", "7.1.3-x", "7.2.13-x")]
    assert states == ["old", "either", "either", "new"]
    assert "new after 6.12, seen from 7.2" in b.note() and "unverified" in b.note()


def test_a_patch_level_boundary_compares_three_parts():
    b = Boundary("x", (6, 12, 117))
    assert b.state(kernel("6.12.0-x", "6.12.116-1")) == "old"
    assert b.state(kernel("6.12.0-x", "6.12.117-1")) == "new"
