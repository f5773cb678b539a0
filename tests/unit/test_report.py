"""The report model on a real run's report (tests/data/report-real.json: the scenario suite
on Debian 6.1 and 6.12 merged with a run where a real kernel WARNING failed a test)."""

import copy
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import jsonschema
import pytest

from harness.report import diff, validate
from harness.report_cli import merge, render_html

REAL = json.loads((Path(__file__).parent.parent / "data" / "report-real.json").read_text())


def test_real_report_is_schema_valid_and_complete():
    validate(REAL)
    kernels = {v["release"] for v in REAL["vms"]}  # one VM per kernel and merged run
    assert len(kernels) == 2 and all(v["accel"] in ("kvm", "tcg") for v in REAL["vms"])
    areas = {t["area"] for t in REAL["tests"]}
    assert {"sysfs-views", "setns", "persistence", "sockets", "devices"} <= areas
    failed = [t for t in REAL["tests"] if t["outcome"] == "failed"]
    assert failed and all(t["splats"] and t["reproduce"] for t in failed)


def test_schema_rejects_a_bad_outcome():
    bad = copy.deepcopy(REAL)
    bad["tests"][0]["outcome"] = "kinda"
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def test_diff_names_exactly_the_changed_test():
    new = copy.deepcopy(REAL)
    target = next(t for t in new["tests"] if t["outcome"] == "passed" and t["area"] == "setns")
    target["outcome"] = "failed"
    d = diff(REAL, new)
    assert [(r["kernel"], r["test"]) for r in d["regressions"]] == [
        (target["kernel"], target["nodeid"].split("[")[0])
    ]
    assert d["fixes"] == d["new"] == d["vanished"] == []
    gone = copy.deepcopy(REAL)
    gone["tests"] = [t for t in gone["tests"] if t is not gone["tests"][0]]
    assert len(diff(REAL, gone)["vanished"]) == 1 and len(diff(gone, REAL)["new"]) == 1


def test_merge_of_per_kernel_reports():
    parts = []
    for release in sorted({v["release"] for v in REAL["vms"]}):
        part = copy.deepcopy(REAL)
        part["vms"] = [v for v in REAL["vms"] if v["release"] == release]
        part["tests"] = [t for t in REAL["tests"] if t["kernel"] == release]
        parts.append(part)
    merged = merge(parts)
    validate(merged)
    assert len(merged["tests"]) == len(REAL["tests"])
    assert merged["run"]["exit_status"] == REAL["run"]["exit_status"]


def test_html_has_every_test_and_each_failure_expanded():
    page = render_html(REAL)
    names = {t["nodeid"].split("::")[-1].split("[")[0] for t in REAL["tests"]}
    assert all(n in page for n in names)
    failures = [t for t in REAL["tests"] if t["outcome"] in ("failed", "error")]
    assert page.count("<details") == len(failures)
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # self-contained


def _png_pixels(data: bytes):
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes) into rows of pixel tuples."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    w, h, depth, ctype = hdr[:4]
    bpp = {2: 3, 6: 4}[ctype]
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian's chromium is not installed")
def test_html_renders_in_headless_chromium(tmp_path):
    page, shot = tmp_path / "r.html", tmp_path / "r.png"
    page.write_text(render_html(REAL))
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,900",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    w, h, bpp, rows = _png_pixels(shot.read_bytes())
    assert (w, h) == (1200, 900)
    colours = {"green": 0, "red": 0}
    for line in rows[::3]:
        for x in range(0, w * bpp, bpp * 3):
            r, g, b = line[x], line[x + 1], line[x + 2]
            if (r, g, b) == (0x2E, 0x7D, 0x32):
                colours["green"] += 1
            elif (r, g, b) == (0xC6, 0x28, 0x28):
                colours["red"] += 1
    assert colours["green"] > 1000 and colours["red"] > 20, colours
