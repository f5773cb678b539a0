"""The image's finishing steps that do not need a Debian tree."""

import os

from harness.image.finish import FinishSpec, copy_normalized


def test_copy_normalized_does_not_inherit_the_umask_of_a_checkout(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "pkg" / "sub").mkdir(parents=True)
    (src / "pkg" / "__pycache__").mkdir()
    (src / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"")
    (src / "pkg" / "a.py").write_text("a")
    (src / "pkg" / "run").write_text("#!/bin/sh")
    (src / "pkg" / "a.py").chmod(0o664)  # a checkout made under umask 002
    (src / "pkg" / "run").chmod(0o775)
    (src / "pkg" / "sub").chmod(0o775)
    os.symlink("a.py", src / "pkg" / "link")
    (dst / "pkg").mkdir(parents=True)
    (dst / "pkg").chmod(0o2775)  # an existing directory keeps its mode (Debian's /usr/local)
    copy_normalized(src, dst, skip=("__pycache__",))
    mode = lambda p: (dst / p).lstat().st_mode & 0o7777  # noqa: E731
    assert (mode("pkg"), mode("pkg/sub"), mode("pkg/a.py"), mode("pkg/run")) == (
        0o2775,
        0o755,
        0o644,
        0o755,
    )
    assert os.readlink(dst / "pkg" / "link") == "a.py"
    assert not (dst / "pkg" / "__pycache__").exists()


def test_finish_spec_survives_json():
    spec = FinishSpec("/r", "", "/p", ("usr/share/doc",), "/o", "/k", "nsroot", 160, (65536, 65536))
    assert FinishSpec.from_json(spec.to_json()) == spec
