"""One pytest session's harness state: the kernels under test and one Machine per kernel.

Kernels are keyed by identity (Kernel.key), never by release: two builds of one release
are two columns everywhere. Whatever the whole session needs (kernels, the image, keys,
QEMU and its accelerator) is prepared once, before the first test; if it fails the run
stops with one clear error instead of the same traceback on every test.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest

from .. import image as image_mod
from .. import kernel as kernel_mod
from ..errors import HarnessError
from ..host import workdirs
from ..host.children import kill_all
from ..host.keys import installation_keys
from ..report.model import VmRecord
from ..vm.accel import Accel, choose_accel
from ..vm.machine import Machine
from ..vm.machineopts import MachineOptions

log = logging.getLogger("nsharness")


class HarnessSession:
    def __init__(self, config: pytest.Config):
        self.config = config
        o = config.option
        self.specs: list[str] = list(o.kernel or [])
        if not self.specs and not o.kernel_src:
            self.specs = [kernel_mod.DEFAULT_SPEC]
        self.kernels: list[kernel_mod.Kernel] = []
        self.labels: dict[str, str] = {}
        self.machines: dict[str, Machine] = {}
        self.boot_errors: dict[str, str] = {}
        self.error: str | None = None
        self.error_code = 4
        self.resolved = False
        self.doing: str | None = None  # what resolve() is at, for an interruption's message
        self.interrupted = False
        self._image: image_mod.Image | None = None
        self._accel: Accel | None = None

    # ------------------------------------------------------------ kernels
    def resolve(self) -> None:
        """Resolve --kernel specs and build --kernel-src trees (once). An xdist worker takes
        the controller's resolved kernels instead (no apt queries, no make per worker)."""
        if self.resolved:
            return
        self.resolved = True
        handed = getattr(self.config, "workerinput", {}).get("nsh_kernels")
        if handed is not None:
            self.kernels = [kernel_mod.Kernel.from_dict(d) for d in handed]
        else:
            mods = self.config.option.modules
            for spec in self.specs:
                self.doing = f"getting kernel {spec}"
                k = kernel_mod.resolve(spec, Path(mods) if mods else None)
                k.check_config()
                self.kernels.append(k)
            for src in self.config.option.kernel_src or []:
                from ..kernel.build import build

                self.doing = f"building the kernel of --kernel-src {src}"
                k = build(Path(src))
                k.check_config()
                self.kernels.append(k)
        self.doing = None
        seen: dict[str, kernel_mod.Kernel] = {}
        for k in self.kernels:
            seen.setdefault(k.key, k)  # the same kernel given twice is tested once
        self.kernels = list(seen.values())
        self.labels = kernel_mod.unique_labels(self.kernels)

    def label(self, k: kernel_mod.Kernel) -> str:
        return self.labels.get(k.key, k.release)

    def kernel_of(self, item: pytest.Item) -> tuple[kernel_mod.Kernel | None, str | None]:
        """The kernel an item runs on: its `nsh_kernel` parameter, or attribute (an item
        that is not a parametrized function, like a kselftest program)."""
        k = getattr(item, "nsh_kernel", None)
        cs = getattr(item, "callspec", None)
        if k is None and cs is not None:
            k = cs.params.get("nsh_kernel")
        if isinstance(k, kernel_mod.Kernel):
            return k, self.label(k)
        return None, None

    # ------------------------------------------------------------ session-wide parts
    def accel(self) -> Accel:
        if self._accel is None:
            self._accel = choose_accel(self.config.option.accel)
        return self._accel

    def image(self) -> image_mod.Image:
        if self._image is None:
            self._image = image_mod.ensure(self.config.option.image)
        return self._image

    def prepare(self) -> None:
        """Everything the session needs before the first boot, cheapest check first:
        QEMU and the accelerator, the keys, the image, each kernel's boot files."""
        from ..boot import files as bootfiles

        gone = workdirs.clean_stale()
        if gone:
            log.info("removed %d VM directories left by killed runs", len(gone))
        from ..vm.accel import QEMU

        if shutil.which(QEMU) is None:
            raise HarnessError(f"QEMU not found ({QEMU}): apt-get install qemu-system-x86")
        self.accel()
        installation_keys()
        self.image()
        for k in self.kernels:
            bootfiles.ensure(k)

    def options(self, k: kernel_mod.Kernel) -> MachineOptions:
        o = self.config.option
        keep = Path(o.keep_console) if o.keep_console else None
        if keep is None and o.report:  # a report must point at consoles that still exist
            keep = Path(o.report).resolve().parent / "consoles"
        return MachineOptions(
            accel=self.accel(),
            memory_mb=o.vm_memory,
            smp=o.vm_smp,
            boot_timeout=o.boot_timeout,
            console_dir=keep,
            label=self.label(k),
            snapshots=not o.no_snapshot,
        )

    # ------------------------------------------------------------ machines
    def machine(self, k: kernel_mod.Kernel) -> Machine:
        """The kernel's running VM, booting (or re-booting a dead or unusable one)."""
        label = self.label(k)
        if k.key in self.boot_errors:
            pytest.fail(
                f"kernel {label} did not boot earlier in this session:\n{self.boot_errors[k.key]}",
                pytrace=False,
            )
        m = self.machines.get(k.key)
        if m is not None and m.usable():
            return m
        if m is None:
            m = self.machines[k.key] = Machine(
                k, self.image(), installation_keys(), self.options(k)
            )
            why = "first use"
        else:
            why = m.unusable_reason() or "reset requested"
            log.info("replacing the guest of %s: %s", label, why)
            m.stop()
        self._progress(f"starting {label} ({k.provenance.describe()}, {self.accel().name})")
        start = time.monotonic()
        try:
            m.start(why)
        except HarnessError as e:
            self.boot_errors[k.key] = str(e)
            pytest.fail(f"kernel {label} did not boot: {e}", pytrace=False)
        self._progress(f"{label} ready in {time.monotonic() - start:.1f} s ({m.record.mode})")
        return m

    def _progress(self, text: str) -> None:
        log.info(text)
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None and self.config.option.verbose >= 0:
            tr.ensure_newline()
            tr.write_line(f"nsharness: {text}")

    def vm_records(self) -> list[VmRecord]:
        out = []
        img = self._image
        for k in self.kernels:
            m = self.machines.get(k.key)
            if m is None and k.key not in self.boot_errors:
                continue
            r = m.record if m else None
            out.append(
                VmRecord(
                    kernel_key=k.key,
                    label=self.label(k),
                    release=k.release,
                    identity=k.identity,
                    provenance=k.provenance.__dict__,
                    kernel_path=str(k.image),
                    kernel_version=k.version,
                    config_hash=k.config_hash,
                    modules=str(k.modules) if k.modules else None,
                    image_hash=img.hash if img else "",
                    accel=self._accel.name if self._accel else "tcg",
                    accel_reason=self._accel.reason if self._accel else "",
                    boots=m.boots if m else 0,
                    restores=m.restores if m else 0,
                    mode=r.mode if r else None,
                    ready_s=r.ready_s if r else None,
                    phases=dict(r.phases) if r else {},
                    snapshot=r.snapshot if r else None,
                    snapshot_note=r.snapshot_note if r else None,
                    starts=list(m.starts) if m else [],
                    console_log=r.console_log if r else None,
                    cmdline=r.cmdline if r else None,
                    boot_error=self.boot_errors.get(k.key),
                )
            )
        return out

    def close(self) -> None:
        for m in self.machines.values():
            m.close()
        kill_all()


#: Where a pytest config keeps its HarnessSession (plugin hooks, fixtures, kselftest items).
SESSION = pytest.StashKey[HarnessSession]()
