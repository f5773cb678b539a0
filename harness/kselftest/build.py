"""Building selftest targets from a Source, the way kselftest's own `install` lays them out.

Each (source, target) is built once and cached (cache_root()/kselftest/build/<source>/<target>,
under a lock, in a temporary sibling renamed into place) and rebuilt when the source's
fingerprint changes. Targets are built with `make -k`, so one program that fails to build
(missing libnuma, clang for BPF objects) fails alone and becomes an error record naming the
build log; what lib.mk would install (TEST_PROGS, TEST_GEN_*, TEST_FILES, settings,
TEST_INCLUDES) is copied into the install tree.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..host.cache import atomic_dir, cache_root, locked
from .source import Source, headers
from .spec import KselftestError, NotInSource, TargetSpec

DEFAULT_TIMEOUT = 45  # kselftest/runner.sh: kselftest_default_timeout
#: Targets whose scripts use another target's files (tools/testing/selftests/Makefile:
#: INSTALL_DEP_TARGETS); built and installed with them when the source has them.
DEP_TARGETS = {"net": ("net/lib",), "drivers/net": ("net/lib",)}
#: The lib.mk variables that say what a target installs, in lib.mk's INSTALL_RULE order.
INSTALL_VARS = (
    "TEST_PROGS",
    "TEST_PROGS_EXTENDED",
    "TEST_FILES",
    "TEST_GEN_PROGS",
    "TEST_CUSTOM_PROGS",
    "TEST_GEN_PROGS_EXTENDED",
    "TEST_GEN_FILES",
)
RUN_VARS = ("TEST_GEN_PROGS", "TEST_CUSTOM_PROGS", "TEST_PROGS")  # lib.mk emit_tests
#: make command-line overrides. 6.12's net target generates YNL C code (for ncdevmem, a
#: NIC driver test) with a script that validates against JSON schemas it fetches from the
#: web: offline it hangs for ever. Nothing we run needs it.
MAKE_OVERRIDES = ("YNL_GEN_FILES=",)
BUILD_TIMEOUT = 1800  # seconds for one target's make; a hung generator is an error, not a hang
BUILD_FORMAT = 1  # bump when the cached entry's layout or build recipe changes


@dataclass(frozen=True)
class Program:
    """One runnable selftest program of a built target."""

    target: str
    name: str
    timeout: int  # seconds, from the target's `settings` (0: none), default 45
    built: bool  # False: it failed to build (see the target's build log)
    log: Path | None = None  # the target's build log

    @property
    def id(self) -> str:
        return f"{self.target}:{self.name}"


@dataclass(frozen=True)
class BuiltTarget:
    """A target's programs installed under `root/<target>/` (kselftest's install layout)."""

    target: str
    root: Path
    programs: tuple[Program, ...]
    missing: tuple[str, ...]  # files the target installs that did not build
    build_s: float
    log: Path
    cached: bool


@dataclass(frozen=True)
class Absent:
    """A selected target or program this source does not have (an older kernel's tree)."""

    entry: str  # "net:so_incoming_cpu", or a whole target: "net/lib"
    reason: str


@dataclass(frozen=True)
class InstalledTree:
    """Everything to copy into the guest, and which programs to run."""

    source: Source
    targets: tuple[BuiltTarget, ...]  # including dependency targets (net/lib)
    selected: tuple[Program, ...]  # the programs the specs asked for, in order
    absent: tuple[Absent, ...] = ()  # what the specs asked for that this source lacks


def settings_timeout(target_dir: Path) -> int:
    """The `timeout=` of a target's settings file (kselftest/runner.sh), default 45 s."""
    settings = target_dir / "settings"
    timeout = DEFAULT_TIMEOUT
    if settings.is_file():
        for line in settings.read_text(errors="replace").splitlines():
            key, _, value = line.strip().partition("=")
            if key == "timeout" and value.strip().isdigit():
                timeout = int(value.strip())
    return timeout


def _make_vars(tdir: Path, output: Path, khdr: str) -> dict[str, list[str]]:
    """The install/run lists of a target as lib.mk computes them (make --eval)."""
    names = (*INSTALL_VARS, "TEST_INCLUDES")
    rule = "nsh-print-vars:;" + "".join(f"$(info NSH {v}=$({v}))" for v in names)
    cmd = ["make", "-s", "--no-print-directory", "-C", str(tdir), f"OUTPUT={output}"]
    cmd += [f"KHDR_INCLUDES={khdr}", *MAKE_OVERRIDES, f"--eval={rule}", "nsh-print-vars"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = {}
    for line in res.stdout.splitlines():
        if line.startswith("NSH ") and "=" in line:
            k, _, v = line[4:].partition("=")
            found[k] = v.split()
    if res.returncode != 0 or set(found) != set(names):
        raise KselftestError(
            f"cannot read the selftest lists of {tdir}: {res.stderr.strip()[-300:]}"
        )
    return found


def _copy_into(src: Path, dest_dir: Path) -> None:
    """rsync -a --copy-unsafe-links SRC DEST/ for a file or a directory."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    if src.is_dir():
        shutil.copytree(src, dest_dir / src.name, symlinks=False, dirs_exist_ok=True)
    else:
        shutil.copy2(src, dest_dir / src.name)


def _build_target(source: Source, target: str, khdr: Path, dest: Path) -> dict:
    """Build one target with make -k (a program that fails to build fails alone) and
    install what was built as kselftest's `install` would; return the manifest."""
    tdir = source.selftests / target
    out, inst = dest / "build", dest / "install"
    log = dest / "build.log"
    inc = f"-isystem {khdr}"
    start = time.monotonic()
    cmd = ["make", "-k", "-C", str(tdir), f"OUTPUT={out}", f"KHDR_INCLUDES={inc}"]
    cmd += [*MAKE_OVERRIDES, f"-j{os.cpu_count() or 1}", "all"]
    out.mkdir(parents=True)
    with open(log, "w") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=BUILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise KselftestError(
                f"building kselftest target {target} took over {BUILD_TIMEOUT} s: stopped"
            ) from None
    lists = _make_vars(tdir, out, inc)
    tinst = inst / target
    tinst.mkdir(parents=True)
    missing: list[str] = []
    for var in INSTALL_VARS:
        for entry in lists[var]:
            path = Path(entry) if Path(entry).is_absolute() else tdir / entry
            if path.exists():
                _copy_into(path, tinst)
            else:
                missing.append(path.name)
    for extra in ("config", "settings"):
        if (tdir / extra).is_file():
            _copy_into(tdir / extra, tinst)
    for entry in lists["TEST_INCLUDES"]:  # installed at their place under selftests/
        path = (tdir / entry).resolve()
        rel = path.relative_to(source.selftests.resolve())
        if path.is_file():
            (inst / rel.parent).mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, inst / rel)
    programs = [Path(p).name for v in RUN_VARS for p in lists[v]]
    shutil.rmtree(out)  # objects and intermediates: the install tree is what we keep
    return {
        "format": BUILD_FORMAT,
        "fingerprint": source.fingerprint,
        "identity": source.identity,
        "target": target,
        "make_rc": rc,
        "programs": programs,
        "missing": missing,
        "timeout": settings_timeout(tdir),
        "build_s": round(time.monotonic() - start, 2),
    }


def build_target(source: Source, target: str, khdr: Path | None = None) -> BuiltTarget:
    """One target, built once per (source, target) and reused while the source is the same."""
    if not (source.selftests / target / "Makefile").is_file():
        have = sorted(
            p.parent.relative_to(source.selftests).as_posix()
            for p in source.selftests.glob("*/Makefile")
        )
        raise NotInSource(
            f"no kselftest target '{target}' in {source.identity} (have: {', '.join(have)})"
        )
    dest = cache_root() / "kselftest" / "build" / source.key / target.replace("/", "+")
    manifest_path = dest / "manifest.json"
    cached = True
    with locked(dest):
        manifest = _read_manifest(manifest_path)
        if (
            manifest.get("format") != BUILD_FORMAT
            or manifest.get("fingerprint") != source.fingerprint
        ):
            cached = False
            khdr = khdr or headers(source)
            with atomic_dir(dest) as tmp:
                try:
                    manifest = _build_target(source, target, khdr, tmp)
                except KselftestError as e:
                    # The entry is discarded; keep its log beside it for the message.
                    failed = dest.parent / f"{dest.name}.failed.log"
                    if (tmp / "build.log").is_file():
                        shutil.copy(tmp / "build.log", failed)
                    raise KselftestError(f"{e} (log {failed})") from None
                (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    log = dest / "build.log"
    missing = set(manifest["missing"])
    programs = tuple(
        Program(target, name, manifest["timeout"], name not in missing, log)
        for name in manifest["programs"]
    )
    return BuiltTarget(
        target=target,
        root=dest / "install",
        programs=programs,
        missing=tuple(manifest["missing"]),
        build_s=manifest["build_s"],
        log=log,
        cached=cached,
    )


def _read_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _names(names: list[str], limit: int = 12) -> str:
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def build(source: Source, specs: list[TargetSpec]) -> InstalledTree:
    """Build (or reuse) every target the specs name, and their dependency targets. What
    the source lacks is listed as absent (a program new in a later kernel), not an error:
    only a selection absent from every kernel under test is (see items.KselftestPlan)."""
    built: dict[str, BuiltTarget] = {}
    selected: list[Program] = []
    absent: list[Absent] = []
    for spec in specs:
        if not (source.selftests / spec.target / "Makefile").is_file():
            have = sorted(
                p.parent.relative_to(source.selftests).as_posix()
                for p in source.selftests.glob("*/Makefile")
            )
            why = (
                f"{source.identity} has no kselftest target '{spec.target}' (have: {_names(have)})"
            )
            absent += [
                Absent(e, why) for e in (str(spec).split(",") if spec.programs else [str(spec)])
            ]
            continue
        for target in (*DEP_TARGETS.get(spec.target, ()), spec.target):
            if target in built:
                continue
            if target != spec.target and not (source.selftests / target).is_dir():
                continue  # an older tree without that dependency target
            built[target] = build_target(source, target)
        by_name = {p.name: p for p in built[spec.target].programs}
        for name in dict.fromkeys((*(spec.programs or by_name), *spec.named)):
            if name in by_name:
                if by_name[name] not in selected:
                    selected.append(by_name[name])
            else:
                why = (
                    f"{source.identity} has no kselftest program '{name}' in {spec.target} "
                    f"(programs: {_names(list(by_name))})"
                )
                absent.append(Absent(f"{spec.target}:{name}", why))
    return InstalledTree(source, tuple(built.values()), tuple(selected), tuple(absent))
