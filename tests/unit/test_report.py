"""The report model on a real run's report (tests/data/report-real.json: the scenario suite
on Debian 6.1 and 6.12, merged with a run on a self-built 6.1.192 whose veth keeps its
peer — three real failures) — schema, diff, merge, coverage, HTML."""

import copy
import dataclasses
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import jsonschema
import pytest

from harness.errors import InputError
from harness.report import Report, validate
from harness.report.diff import diff
from harness.report.html import render
from harness.report.merge import merge

DOC = json.loads((Path(__file__).parent.parent / "data" / "report-real.json").read_text())


def real() -> Report:
    return Report.from_dict(copy.deepcopy(DOC))


def test_real_report_is_schema_valid_and_round_trips():
    validate(DOC)
    rep = real()
    assert len(rep.kernels()) == 3 and all(v.accel in ("kvm", "tcg") for v in rep.vms)
    assert {v.provenance["kind"] for v in rep.vms} == {"debian", "source"}
    areas = {t.area for t in rep.tests}
    assert {"sysfs-views", "setns", "lifetime", "sockets", "devices"} <= areas
    again = rep.to_dict()
    validate(again)
    assert Report.from_dict(again).tests == rep.tests
    bad = [t for t in rep.tests if t.outcome in ("failed", "error")]
    assert bad and all(t.message and t.reproduce for t in bad)


def test_schema_rejects_a_bad_outcome():
    bad = copy.deepcopy(DOC)
    bad["tests"][0]["outcome"] = "kinda"
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def _flip(rep: Report, pred, outcome: str) -> Report:
    new = copy.deepcopy(rep)
    target = next(t for t in new.tests if pred(t))
    target.outcome = outcome
    return new, target


def test_diff_names_exactly_the_changed_test_per_kernel():
    base = real()
    new, target = _flip(base, lambda t: t.outcome == "passed" and t.area == "setns", "failed")
    d = diff(base, new)
    assert [(r.kernel, r.test) for r in d.regressions] == [(target.kernel, target.test_id)]
    assert d.fixes == d.new == d.vanished == d.changed == []
    gone = copy.deepcopy(base)
    gone.tests = gone.tests[1:]
    assert len(diff(base, gone).vanished) == 1 and len(diff(gone, base).new) == 1


def test_diff_keeps_parametrized_variants_apart():
    base = real()
    t0 = next(t for t in base.tests if t.outcome == "passed")
    veth = dataclasses.replace(t0, test_id=t0.test_id + "[veth]", params={"kind": "veth"})
    mac = dataclasses.replace(t0, test_id=t0.test_id + "[macvlan]", params={"kind": "macvlan"})
    base.tests += [veth, mac]
    new = copy.deepcopy(base)
    next(t for t in new.tests if t.test_id == veth.test_id).outcome = "failed"
    d = diff(base, new)
    assert [r.test for r in d.regressions] == [veth.test_id]


def test_diff_pairs_two_builds_of_one_release():
    """A/B: the good and the patched build share a release but not an identity."""
    base = real()
    key = next(iter(base.kernels()))
    only = lambda rep, k: Report(  # noqa: E731
        rep.run,
        [v for v in rep.vms if v.kernel_key == k],
        [t for t in rep.tests if t.kernel_key == k],
    )
    good = only(base, key)
    patched = copy.deepcopy(good)
    for v in patched.vms:
        v.kernel_key, v.label = "feedfacecafe", v.release + "@feedface"
    for t in patched.tests:
        t.kernel_key, t.kernel = "feedfacecafe", t.kernel + "@feedface"
    victim = next(t for t in patched.tests if t.outcome == "passed")
    victim.outcome = "failed"
    d = diff(good, patched)
    assert len(d.pairs) == 1 and [r.test for r in d.regressions] == [victim.test_id]
    both = merge([good, patched])  # two columns of one report, compared explicitly
    assert len(both.kernels()) == 2
    d2 = diff(both, both, base_kernel=key, new_kernel="feedfacecafe")
    assert [r.test for r in d2.regressions] == [victim.test_id]


def test_merge_of_per_kernel_reports_and_duplicates_refused():
    rep = real()
    parts = [
        Report(
            rep.run,
            [v for v in rep.vms if v.kernel_key == k],
            [t for t in rep.tests if t.kernel_key == k],
        )
        for k in rep.kernels()
    ]
    merged = merge(parts)
    validate(merged.to_dict())
    assert len(merged.tests) == len(rep.tests)
    with pytest.raises(InputError, match="in both"):
        merge([parts[0], parts[0]])


def test_coverage_table_is_computed_from_the_tests():
    doc = real().to_dict()
    cov = doc["behaviours"]
    assert {c["id"] for c in cov["catalogue"]} >= {str(i) for i in range(1, 38)}
    for row in cov["cells"].values():
        for cell in row.values():
            if cell["status"] == "not covered":
                assert cell["tests"] == []
            else:
                assert cell["tests"]


def test_html_has_every_test_and_each_failure_expanded():
    rep = real()
    page = render(rep)
    assert all(t.name in page for t in rep.tests)
    failures = [t for t in rep.tests if t.outcome in ("failed", "error")]
    assert page.count("<details") == len(failures)
    assert "<script" not in page and "http" not in page.split("<body>")[1]  # self-contained


def test_html_escapes_hostile_names():
    rep = real()
    rep.tests[0].test_id = "<script>alert(1)</script>[/x]"
    rep.vms[0].label = "6.1[/x]<b>"
    page = render(rep)
    assert "<script>alert" not in page and "&lt;script&gt;" in page


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
    page.write_text(render(real()))
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
