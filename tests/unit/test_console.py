"""Console and kernel-log parsing on a real captured panic."""

from pathlib import Path

from harness.vm.console import ConsoleLog, classify, find_splats

DATA = Path(__file__).resolve().parent.parent / "data"


def test_real_panic_is_detected_with_its_frames():
    log = ConsoleLog(DATA / "console-6.12-panic-noroot.log")
    assert (
        log.crash()
        == "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)"
    )
    splats = find_splats(log.lines())
    assert [s.kind for s in splats] == ["panic"]
    assert splats[0].frames[:3] == ("panic", "mount_root_generic", "prepare_namespace")
    assert "kernel_init_freeable" in "\n".join(splats[0].lines)


def test_healthy_boot_lines_are_not_splats():
    log = ConsoleLog(DATA / "console-6.12-panic-noroot.log")
    before_panic = [ln for ln in log.lines() if "2.564982" not in ln][:300]
    assert find_splats(before_panic) == []


def test_fingerprint_ignores_addresses_and_pids():
    a = [
        "[  1.0] WARNING: CPU: 0 PID: 12 at net/core/dev.c:1 f+0x1/0x2",
        "[  1.0] RIP: 0010:dev_close+0x10/0x20",
        "[  1.0] Call Trace:",
        "[  1.0]  foo+0x1/0x9",
        "[  1.0]  bar+0x3/0x9",
        "[  1.0] ---[ end trace 0 ]---",
    ]
    b = [ln.replace("PID: 12", "PID: 99").replace("0x10/0x20", "0x18/0x20") for ln in a]
    sa, sb = find_splats(a), find_splats(b)
    assert sa[0].kind == "warning" and sa[0].frames == ("dev_close", "foo", "bar")
    assert sa[0].fingerprint == sb[0].fingerprint


def test_classify_kinds():
    assert (
        classify("[ 5.1] unregister_netdevice: waiting for veth0 to become free. Usage count = 2")
        == "netdev-refcount"
    )
    assert classify("[ 9.0] INFO: task ip:123 blocked for more than 120 seconds.") == "hung-task"
    assert classify("[ 1.0] BUG: KASAN: use-after-free in foo") == "kasan"
    assert classify("[ 1.0] ref_tracker: netdev@0000 has 1/1 users at") == "ref-tracker"
    assert classify("[ 1.0] virtio_net virtio0 eth0: renamed") is None


def test_warn_message_before_the_warning_line_is_kept():
    lines = [
        "[ 13.38] ------------[ cut here ]------------",
        "[ 13.38] nsharness: deliberate warning from nsh_warn",
        "[ 13.38] WARNING: CPU: 0 PID: 127 at nsh_warn.c:10 nsh_warn_init+0x11/0x1000 [nsh_warn]",
        "[ 13.38] RIP: 0010:nsh_warn_init+0x11/0x1000 [nsh_warn]",
        "[ 13.39] Call Trace:",
        "[ 13.39]  do_one_initcall+0x40/0x1f0",
        "[ 13.39] ---[ end trace 0000000000000000 ]---",
    ]
    (s,) = find_splats(lines)
    assert s.kind == "warning" and s.headline.startswith("WARNING: CPU: 0")
    assert s.lines[1] == "nsharness: deliberate warning from nsh_warn"
    assert s.frames == ("nsh_warn_init", "do_one_initcall")


def test_evidence_starts_at_the_panic_even_behind_a_long_trace(tmp_path):
    real = (DATA / "console-6.12-panic-noroot.log").read_text()
    padded = tmp_path / "console.log"
    padded.write_text(real + "".join(f"[    9.{i:06d}] trailing line {i}\n" for i in range(120)))
    log = ConsoleLog(padded)
    assert "Kernel panic" not in log.tail(40)
    ev = log.evidence(40)
    assert "Kernel panic - not syncing: VFS: Unable to mount root fs" in ev
    assert "trailing line 119" in ev and "[...]" in ev
    healthy = tmp_path / "ok.log"
    healthy.write_text("\n".join(f"line {i}" for i in range(100)))
    assert ConsoleLog(healthy).evidence(10) == ConsoleLog(healthy).tail(10)
