"""A Machine: one booted kernel you can talk to (the NixOS test driver's idea, for kernels).

It ties the pieces together: kernel + image + keys -> boot files -> QEMU -> SSH, logs the
boot's phases with their times (logger `nsharness.vm.<label>`), and records what a report
needs to say about the boot (accel and why, phase times, console).
"""

from __future__ import annotations

import logging
import shlex
import shutil
import time
from pathlib import Path

from ..boot import files as bootfiles
from ..boot import initrd
from ..errors import BootError, GuestDied, HarnessError
from ..host import workdirs
from ..host.keys import Keys
from ..image import Image
from ..kernel.fingerprint import file_hash
from ..kernel.model import Kernel
from . import snapshot
from .agent import AgentChannel
from .machineopts import BootRecord, MachineOptions, cmdline
from .qemu import Qemu, QemuConfig, overlay
from .remote import Remote

STAGE1 = "nsharness: stage1"


class Machine(Remote):
    """A running guest: call its agent, run commands over SSH, move files, read its
    console, stop it. Started by a cold boot or by restoring a saved ready guest."""

    def __init__(self, kernel: Kernel, image: Image, keys: Keys, opts: MachineOptions):
        self.kernel, self.image, self.keys, self.opts = kernel, image, keys, opts
        self.label = opts.label or kernel.release
        self.log = logging.getLogger(f"nsharness.vm.{self.label}")
        self.workdir = workdirs.make()
        self.qemu: Qemu | None = None
        self.record: BootRecord | None = None
        self.boots = self.restores = 0
        self._ssh = None
        self._agent = None
        self._starts = 0
        self.starts: list[dict] = []  # every start: how, how long, why
        self._why = "first use"
        self._reset: str | None = None

    # ------------------------------------------------------------ lifecycle
    def _config(self, initrd: Path, overlay: Path, incoming: Path | None = None) -> QemuConfig:
        files = bootfiles.ensure(self.kernel)
        return QemuConfig(
            kernel=files.kernel,
            initrd=initrd,
            append=cmdline(self.opts),
            root_disk=overlay,
            modules_disk=files.modules_disk,
            accel=self.opts.accel,
            memory_mb=self.opts.memory_mb,
            smp=self.opts.smp,
            incoming=incoming,
        )

    def _snapshot_key(self, cfg: QemuConfig) -> str:
        boot = bootfiles.ensure(self.kernel).key  # kernel identity: vmlinux, modules, init
        ids = {
            str(cfg.kernel): f"kernel:{boot}",
            str(cfg.initrd): f"initrd:{file_hash(cfg.initrd)}",  # keys + agent code
            "image": f"image:{self.image.hash}",
        }
        if cfg.modules_disk:
            ids[str(cfg.modules_disk)] = f"modules:{boot}"
        return snapshot.key_for(cfg.machine_args(), ids)

    def _launch(self, cfg: QemuConfig) -> None:
        self._starts += 1
        console_dir = self.opts.console_dir or self.workdir
        console_dir.mkdir(parents=True, exist_ok=True)
        name = f"console-{self.label}-{self._starts}-{self.workdir.name[7:]}.log"
        self.qemu = Qemu(cfg, self.workdir, console_dir / name.replace("/", "_"))
        self.qemu.start()

    def start(self, why: str = "first use") -> Machine:
        """Restore the saved ready guest if one fits, else boot (and save one)."""
        self._why, self._reset = why, None
        self._start()
        self.starts.append(
            {
                "mode": self.record.mode,
                "ready_s": self.record.ready_s,
                "why": why,
                "snapshot_note": self.record.snapshot_note,
            }
        )
        return self

    def _start(self) -> None:
        files = bootfiles.ensure(self.kernel)
        booted = initrd.initrd_with_keys(files.initrd, self.keys, self.workdir / "initrd.cpio")
        cfg = self._config(booted, self.workdir / "root.qcow2")
        key = self._snapshot_key(cfg)
        note = None
        if self.opts.snapshots:
            snap = snapshot.find(key)
            if snap is not None:
                try:
                    self._restore(snap)
                    return
                except HarnessError as e:
                    note = f"snapshot {key} failed to restore, discarded: {str(e)[:200]}"
                    self.log.warning(note)
                    self.stop()
                    snapshot.discard(snap)
            else:
                note = f"no snapshot {key} yet: cold boot, then saved"
        else:
            note = "snapshots disabled (--no-snapshot)"
        self._cold(cfg)
        if self.opts.snapshots and note and note.startswith("no snapshot"):
            try:
                snap = self._save(key)
                self._restore(snap, note="saved after this cold boot")
                return
            except HarnessError as e:
                note = f"could not save a snapshot: {str(e)[:200]}"
                self.log.warning(note)
                if not self.usable():
                    self.stop()
                    self._cold(cfg)
        self.record.snapshot_note = note

    def _cold(self, cfg: QemuConfig) -> None:
        overlay(self.image.path, "raw", cfg.root_disk)
        self.boots += 1
        self.log.info("booting %s (%s, boot %d)", self.kernel.identity, cfg.accel.name, self.boots)
        self._launch(cfg)
        phases: dict[str, float] = {}
        try:
            phases["init"] = self.qemu.wait_for(STAGE1, self.opts.boot_timeout)
            self.log.info("kernel reached the initrd's init at %.2f s", phases["init"])
            self._connect_agent(phases)
        except BaseException as e:
            self._failed(e)
        self._record("cold", phases)

    def _restore(self, snap: snapshot.Snapshot, note: str | None = None) -> Machine:
        """A new QEMU loading the saved state, on a fresh disk layer over the saved one."""
        self.stop()
        layer = self.workdir / f"root-{self._starts + 1}.qcow2"
        overlay(snap.disk, "qcow2", layer)
        cfg = self._config(snap.initrd, layer, incoming=snap.state)
        self.restores += 1
        self.log.info("restoring %s from snapshot %s", self.label, snap.key)
        self._launch(cfg)
        phases: dict[str, float] = {}
        try:
            self.qemu.wait_qmp(self.opts.boot_timeout)
            deadline = time.monotonic() + self.opts.boot_timeout
            while self.qemu.status() == "inmigrate":
                if time.monotonic() > deadline or not self.qemu.alive():
                    raise BootError(f"snapshot did not load: {self.qemu.stderr()[-300:]}")
                time.sleep(0.005)
            phases["loaded"] = self.qemu.elapsed()
            self.qemu.qmp("cont")
            self._connect_agent(phases, timeout=30)
        except BaseException as e:
            self._failed(e)
        self._record("restored", phases, snap.key)
        self.record.snapshot_note = note
        return self

    def _save(self, key: str) -> snapshot.Snapshot:
        """Pause the ready guest and write its state; the disk layer goes with it."""
        start = time.monotonic()
        self._close_channels()
        state = self.workdir / "state.mig"
        self.qemu.qmp("stop")
        self.qemu.qmp("migrate", uri=f"exec:cat > {shlex.quote(str(state))}")
        while True:
            st = self.qemu.qmp("query-migrate").get("status")
            if st == "completed":
                break
            if st in ("failed", "cancelled") or not self.qemu.alive():
                raise HarnessError(f"saving the guest failed (migration {st})")
            time.sleep(0.01)
        disk = Path(self.qemu.cfg.root_disk)
        self.qemu.stop()
        snap = snapshot.store(
            key,
            state,
            disk,
            self.qemu.cfg.initrd,
            {"kernel": self.kernel.identity, "image": self.image.hash, "label": self.label},
        )
        self.log.info("saved snapshot %s in %.2f s", key, time.monotonic() - start)
        return snap

    def _connect_agent(self, phases: dict[str, float], timeout: float | None = None) -> None:
        self._agent = AgentChannel(str(self.qemu.agent_path), self.label, self.raise_if_dead)
        left = (timeout or self.opts.boot_timeout) - self.qemu.elapsed()
        self._agent.connect(max(5.0, left))
        phases["ready"] = self.qemu.elapsed()
        self.log.info("guest ready (agent answered) at %.2f s", phases["ready"])

    def _failed(self, e: BaseException) -> None:
        tail = self.qemu.console.evidence() if self.qemu else ""
        self.stop()
        if isinstance(e, HarnessError) and not isinstance(e, BootError):
            raise BootError(f"{e}\n{tail}") from e
        raise e

    def _record(self, mode: str, phases: dict[str, float], snap: str | None = None) -> None:
        self.record = BootRecord(
            release=self.kernel.release,
            accel=self.opts.accel.name,
            accel_reason=self.opts.accel.reason,
            mode=mode,
            ready_s=round(phases["ready"], 3),
            console_log=str(self.qemu.console.path),
            cmdline=self.qemu.cfg.append,
            pid=self.qemu.pid,
            boots=self.boots,
            restores=self.restores,
            phases={k: round(v, 3) for k, v in phases.items()},
            snapshot=snap,
        )

    @property
    def agent(self):
        """This guest's agent channel (vm/agent.py)."""
        if self._agent is None:
            raise GuestDied(f"guest {self.label} is not running")
        return self._agent

    def properties(self) -> list[tuple[str, object]]:
        """What a JUnit test case says about the guest it ran in (its user_properties)."""
        return [
            ("kernel", self.label),
            ("kernel_key", self.kernel.key),
            ("accel", self.record.accel),
            ("ready_s", self.record.ready_s),
            ("start", self.record.mode),
        ]

    @property
    def snapshots(self) -> bool:
        return self.opts.snapshots

    @property
    def started(self) -> bool:
        return self.qemu is not None

    def alive(self) -> bool:
        return self.qemu is not None and self.qemu.alive() and self.qemu.console.crash() is None

    def request_reset(self, why: str) -> None:
        """Have the next user get a fresh guest (a restore when a snapshot exists)."""
        self._reset = why

    def unusable_reason(self) -> str | None:
        """Why this guest cannot serve the next test (dead, no SSH, agent out of step)."""
        if self._reset:
            return self._reset
        if not self.alive():
            return self.dead_reason() or "not running"
        if self._ssh is not None and not self._ssh.transport.is_active():
            return "SSH session lost"
        if self._agent is None:
            return "no guest agent"
        if self._agent.broken:
            return f"guest agent unusable: {self._agent.broken}"
        return None

    def usable(self) -> bool:
        return self.unusable_reason() is None

    def _close_channels(self) -> None:
        if self._agent is not None:
            self._agent.close()
            self._agent = None
        if self._ssh is not None:
            try:
                self._ssh.close()
            except Exception:  # noqa: BLE001 - the guest may already be gone
                pass
            self._ssh = None

    def stop(self) -> None:
        self._close_channels()
        if self.qemu is not None:
            self.qemu.stop()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Machine:
        return self.start() if self.qemu is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def console_tail(self, n: int = 30) -> str:
        """The console's evidence: from a crash's first line if it crashed, else the tail."""
        return self.qemu.console.evidence(n) if self.qemu else ""

    def dead_reason(self) -> str | None:
        """Why the guest is gone (a panic's headline, QEMU's exit), or None if it runs."""
        if self.qemu is None or self.qemu.proc is None:
            return "not started"
        crash = self.qemu.console.crash()
        if crash:
            return crash
        if not self.qemu.alive():
            return f"QEMU exited with code {self.qemu.proc.returncode}"
        return None

    def raise_if_dead(self, grace: float = 3.0) -> None:
        """Raise GuestDied if the guest crashed; a dying QEMU gets *grace* seconds to exit."""
        if self.qemu is None:
            return
        deadline = time.monotonic() + grace
        while self.qemu.alive() and not self.qemu.console.crash() and time.monotonic() < deadline:
            time.sleep(0.05)
        why = self.dead_reason()
        if why:
            raise GuestDied(f"guest {self.label} died: {why}\n{self.console_tail()}")
