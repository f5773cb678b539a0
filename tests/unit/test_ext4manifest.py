"""Manifests of real ext4 images (mkfs.ext4 -d, debugfs), as the image comparison uses them."""

import os
import stat

from harness.image import make_ext4
from harness.image import manifest as ext4manifest
from harness.image.finish import DEV, add_device_nodes, populate_dev_tree, reset_dev


def _tree(root):
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text("root:*:20780:0:99999:7:::\n")
    (root / "etc" / "shadow").chmod(0o640)
    (root / "bin").mkdir()
    (root / "bin" / "su").write_bytes(b"\x7fELF")
    (root / "bin" / "su").chmod(0o4755)
    (root / "bin" / "hard").hardlink_to(root / "bin" / "su")
    (root / "secret").write_text("none may read me")
    (root / "secret").chmod(0)
    (root / "a dir with space").mkdir()
    (root / "a dir with space" / "f").write_text("x")
    os.symlink("usr/lib", root / "lib")
    reset_dev(root)
    populate_dev_tree(root)


def test_manifest_lists_every_path_with_owner_mode_and_content(tmp_path):
    root = tmp_path / "root"
    _tree(root)
    img = tmp_path / "img.ext4"
    make_ext4(root, img, "t", 4)
    add_device_nodes(img)
    m = ext4manifest.manifest(img)
    # Packed with root as owner even when an ordinary user packs their own tree.
    assert {(e.uid, e.gid) for e in m.values()} == {(0, 0)}
    assert m["/"].kind == "d" and m["/"].mode == 0o755
    assert m["/bin/su"].mode == 0o4755 and m["/bin/su"].content == m["/bin/hard"].content
    assert m["/etc/shadow"].mode == 0o640
    assert m["/secret"].mode == 0 and len(m["/secret"].content) == 64
    assert m["/a dir with space/f"].kind == "f"
    assert m["/lib"].kind == "l" and m["/lib"].content == "usr/lib"
    assert m["/dev/null"].line() == "/dev/null c 0:0 0666 1:3"
    assert m["/dev/fd"].content == "/proc/self/fd" and m["/dev/pts"].kind == "d"
    assert {p.rsplit("/", 1)[1] for p in m if p.startswith("/dev/")} == {e.name for e in DEV}


def test_compare_allows_only_named_content_differences(tmp_path):
    for name, day in (("a", "20780"), ("b", "20781")):
        root = tmp_path / name
        _tree(root)
        (root / "etc" / "shadow").write_text(f"root:*:{day}:0:99999:7:::\n")
        make_ext4(root, tmp_path / f"{name}.ext4", "t", 4)
    a = ext4manifest.manifest(tmp_path / "a.ext4")
    b = ext4manifest.manifest(tmp_path / "b.ext4")
    assert len(ext4manifest.compare(a, b, {})) == 1
    assert ext4manifest.compare(a, b, {"/etc/shadow": "day of build"}) == []
    # An allowed path may differ in content only, never in owner or mode.
    b["/etc/shadow"] = ext4manifest.Entry("/etc/shadow", "f", 0, 0, 0o644, "x")
    assert ext4manifest.compare(a, b, {"/etc/shadow": "day of build"})[0].startswith("differs")
    del b["/secret"]
    assert "only in first: /secret f 0:0 0000" in "\n".join(ext4manifest.compare(a, b, {}))


def test_parse_ls_p_on_real_debugfs_output():
    out = (
        "debugfs: ls -p /dev\n"
        "/14/040755/0/0/.//\n/2/040755/0/0/..//\n/15/120777/0/0/fd/13/\n"
        "/8347/020666/0/0/null/0/\n"
        "debugfs: ls -p /etc\n/206/100640/0/42/shadow/474/\n"
    )
    assert ext4manifest.parse_ls_p(out) == {
        "/dev": (0o40755, 0, 0),
        "/dev/fd": (0o120777, 0, 0),
        "/dev/null": (stat.S_IFCHR | 0o666, 0, 0),
        "/etc/shadow": (0o100640, 0, 42),
    }
