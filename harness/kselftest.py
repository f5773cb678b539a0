"""Kernel selftests (tools/testing/selftests) built from the kernel's own source, run in the guest.

Design note for the integrator (plugin/CLI/report):

- `parse_spec("nsfs,pidfd,net:rtnetlink.sh")` -> TargetSpecs; `source_for(kernel,
  kernel_src)` -> the Source the kernel was built from (a `--kernel-src` tree, or Debian's
  `linux-source-X.Y` package of exactly the kernel package's version); `build(source,
  specs)` -> InstalledTree (cached per source identity and target under
  cache_root()/kselftest); `install(machine, tree)` copies it to GUEST_ROOT;
  `run_program(machine, program)` runs one program with its target's timeout and returns
  a ProgramResult holding the raw output, the exit code, the kernel log lines printed
  meanwhile and the parsed KTAP.
- Records: `result.records()` gives one ktap.Record per subtest, path
  (target, program, subtest, ...), plus one record for the program itself (path
  (target, program)), whose outcome follows kselftest's runner (exit 0 pass, 4 skip, 124
  timeout -> error, anything else fail) and turns to "error" when the program died
  mid-run (signal, timeout, guest death, fewer results than planned, bail-out): that
  record carries the reason and the output's tail, so a crash is never silence.
  A program that prints no KTAP (many net scripts) gets subtest records from its
  "TEST: name [ OK ]" / "PASS: name" lines where it prints them (see script_checks).
- Report mapping (`report_tests(result, kernel)`), one test record per Record:
  nodeid `kselftest/<target>/<program>::<subtest>::<nested>[<release>]` (the program's own
  record: `kselftest/<target>/<program>[<release>]`), area `kselftest:<target>`, outcome
  passed|failed|skipped|error (xfail is reported as passed, its directive kept in
  observations.ktap), skip_reason / message from the KTAP reason and diagnostics,
  kernel_log = the kernel log lines printed during the program, name = last path element,
  params = {"kernel": release}. A program's build failure is an "error" record naming the
  build log. A kernel splat (console.find_splats) in the program's kernel log fails its
  program record, as the agent fixture does for scenarios. The program record keeps rc,
  timeout and the output (head and tail past 64 KB) in observations. KCIDB paths are
  `kselftest.<target>.<program>.<subtest>` (harness/kcidb.py).
- Wiring: `python -m harness.kselftest_run` is the stand-alone driver CI uses today; it
  shows the sequence `nsharness run --kselftest SPEC` needs (per kernel: build before
  booting, one install per boot, reboot after a guest death). Under TCG pass
  `timeout=` (e.g. 8x program.timeout): pidfd_test's pid-recycling test takes 235 s there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import paramiko

from . import ktap
from .cache import atomic_dir, cache_root, locked
from .errors import HarnessError

DEFAULT_TIMEOUT = 45  # kselftest/runner.sh: kselftest_default_timeout
SKIP_RC, TIMEOUT_RC = 4, 124  # kselftest/runner.sh: skip_rc, timeout_rc
GUEST_ROOT = "/opt/kselftest"
#: What of Debian's source tarball selftests need: the targets and tools/ (libs, headers,
#: ynl), and enough of the top level to run `make headers` (uapi headers of this tree).
SOURCE_PARTS = (
    "Makefile",
    "Kbuild",
    "Kconfig",
    "arch/Kconfig",
    "arch/x86/*",
    "include/*",
    "scripts/*",
    "tools/*",
    "usr/*",
    "Documentation/netlink/*",
)
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


class KselftestError(HarnessError):
    """A kselftest spec, source or build problem, said in one line."""


# ------------------------------------------------------------------------ specs


@dataclass(frozen=True)
class TargetSpec:
    """One selftest target and, optionally, the only programs of it to run."""

    target: str  # e.g. "nsfs", "net", "net/forwarding"
    programs: tuple[str, ...] = ()  # empty: every program the target runs

    def __str__(self) -> str:
        return ",".join(f"{self.target}:{p}" for p in self.programs) or self.target


_TARGET_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*(/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*$")
_PROGRAM_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")


def parse_spec(text: str) -> list[TargetSpec]:
    """`nsfs,pidfd,net:rtnetlink.sh,net:netdevice.sh` -> one TargetSpec per target.

    Naming a target alone selects all its programs, even if it is also named with a program.
    """
    order: list[str] = []
    progs: dict[str, list[str] | None] = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        target, _, prog = item.partition(":")
        target = target.strip().strip("/")
        if not _TARGET_RE.match(target) or ".." in target.split("/"):
            raise KselftestError(f"bad kselftest target '{target}' in '{text}'")
        if prog and not _PROGRAM_RE.match(prog):
            raise KselftestError(f"bad kselftest program '{prog}' in '{item}'")
        if target not in progs:
            order.append(target)
            progs[target] = []
        have = progs[target]
        if not prog:
            progs[target] = None
        elif have is not None and prog not in have:
            have.append(prog)
    if not order:
        raise KselftestError(f"no kselftest target in '{text}' (e.g. nsfs,pidfd,net:rtnetlink.sh)")
    return [TargetSpec(t, tuple(progs[t] or ())) for t in order]


# ------------------------------------------------------------------------ sources


@dataclass(frozen=True)
class Source:
    """A kernel source tree that selftests are built from, and what names it."""

    tree: Path  # top of the (possibly partial) kernel source tree
    identity: str  # for reports: "debian:linux-source-6.1=6.1.192-2", "/src/linux@<commit>"
    key: str  # cache directory name for this source
    fingerprint: str  # changes whenever what we build from changes
    origin: str  # "debian" or "tree"

    @property
    def selftests(self) -> Path:
        return self.tree / "tools" / "testing" / "selftests"


def debian_source_package(version: str) -> str:
    """The linux-source package built from the same upload as a kernel package version.

    Debian builds linux-image-* and linux-source-X.Y from one source package (`linux` for
    6.1, `linux-6.12` for bookworm's 6.12), with the same version: 6.1.192-2 ->
    linux-source-6.1, 6.12.117-1~deb12u1 -> linux-source-6.12.
    """
    m = re.match(r"^(\d+\.\d+)\.", version)
    if not m:
        raise KselftestError(f"cannot tell the kernel series of Debian version '{version}'")
    return f"linux-source-{m.group(1)}"


def debian_source(version: str) -> Source:
    """Download and unpack (once) the selftests part of linux-source-X.Y=*version*."""
    pkg = debian_source_package(version)
    key = f"{pkg}_{version}".replace("~", "_")
    dest = cache_root() / "kselftest" / "src" / key
    with locked(dest):
        if not (dest / "tree" / "tools" / "testing" / "selftests").is_dir():
            with atomic_dir(dest) as tmp:
                _fetch_debian_source(pkg, version, tmp)
    return Source(
        tree=dest / "tree",
        identity=f"debian:{pkg}={version}",
        key=key,
        fingerprint=f"{pkg}={version}",
        origin="debian",
    )


def _fetch_debian_source(pkg: str, version: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(dir=out) as dl:
        res = subprocess.run(
            ["apt-get", "download", f"{pkg}={version}"],
            cwd=dl,
            capture_output=True,
            text=True,
            check=False,
        )
        debs = list(Path(dl).glob("*.deb"))
        if res.returncode != 0 or not debs:
            last = (res.stderr.strip().splitlines() or ["no .deb downloaded"])[-1]
            raise KselftestError(
                f"kselftests need {pkg}={version} (the kernel's own source) but apt-get "
                f"download failed: {last} (see 'apt-cache policy {pkg}')"
            )
        series = pkg.removeprefix("linux-source-")
        tarball = f"./usr/src/{pkg}.tar.xz"
        # dpkg-deb --fsys-tarfile | tar: only the source tarball, never the whole package.
        deb = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", dl, tarball], stdin=deb.stdout, check=True)
        deb.wait()
        top = f"linux-source-{series}"
        parts = [f"{top}/{p}" for p in SOURCE_PARTS]
        xz = subprocess.Popen(["xz", "-dc", "-T0", f"{dl}/{tarball}"], stdout=subprocess.PIPE)
        res = subprocess.run(
            ["tar", "-x", "-C", str(out), "--wildcards", *parts],
            stdin=xz.stdout,
            capture_output=True,
            text=True,
            check=False,
        )
        xz.wait()
        if res.returncode != 0 or xz.returncode != 0:
            raise KselftestError(f"cannot unpack {pkg}={version}: {res.stderr.strip()[-300:]}")
        (out / top).rename(out / "tree")


def tree_source(src: Path) -> Source:
    """A kernel source tree given with --kernel-src (a git checkout or not)."""
    from .build import source_commit

    src = src.expanduser().resolve()
    if not (src / "tools" / "testing" / "selftests" / "lib.mk").is_file():
        raise KselftestError(f"{src}: no tools/testing/selftests/lib.mk (not a kernel source tree)")
    commit = source_commit(src)
    key = f"{src.name}-{hashlib.sha256(str(src).encode()).hexdigest()[:12]}"
    return Source(
        tree=src,
        identity=f"{src}@{commit}" if commit else str(src),
        key=key,
        fingerprint=_tree_fingerprint(src),
        origin="tree",
    )


def _tree_fingerprint(src: Path) -> str:
    """Names, sizes and mtimes of what a selftest build reads (as make itself would judge)."""
    h = hashlib.sha256()
    for part in ("Makefile", "include/uapi", "arch/x86/include/uapi", "tools"):
        p = src / part
        files = [p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else []
        for f in files:
            try:
                st = f.stat()
            except OSError:
                continue
            if f.is_file():
                h.update(f"{f.relative_to(src)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def source_for(kernel, kernel_src: Path | None = None) -> Source:
    """The source a kernel was built from: its --kernel-src tree, else its Debian package."""
    if kernel_src is not None:
        return tree_source(kernel_src)
    if getattr(kernel, "origin", None) == "build" and kernel.package:
        return tree_source(Path(kernel.package.split("@", 1)[0]))
    if getattr(kernel, "origin", None) == "debian" and kernel.package_version:
        return debian_source(kernel.package_version)
    raise KselftestError(
        f"kselftests need the source of kernel {kernel.release}: pass --kernel-src DIR "
        "(only Debian kernels have a known source package)"
    )


# ------------------------------------------------------------------------ building


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
class InstalledTree:
    """Everything to copy into the guest, and which programs to run."""

    source: Source
    targets: tuple[BuiltTarget, ...]  # including dependency targets (net/lib)
    selected: tuple[Program, ...]  # the programs the specs asked for, in order


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


def headers(source: Source) -> Path:
    """This tree's uapi headers (`make headers`, out of tree), built once per source."""
    out = cache_root() / "kselftest" / "headers" / source.key
    stamp = out / ".nsharness-fingerprint"
    with locked(out):
        if stamp.is_file() and stamp.read_text() == source.fingerprint:
            return out / "usr" / "include"
        out.mkdir(parents=True, exist_ok=True)
        log = out / "headers.log"
        cmd = ["make", "-C", str(source.tree), f"O={out}", f"-j{os.cpu_count() or 1}", "headers"]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        log.write_text(f"$ {' '.join(cmd)}\n{res.stdout}{res.stderr}")
        if res.returncode != 0:
            tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise KselftestError(f"make headers failed in {source.tree}: {tail} (log {log})")
        stamp.write_text(source.fingerprint)
    return out / "usr" / "include"


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
        raise KselftestError(
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


def build(source: Source, specs: list[TargetSpec]) -> InstalledTree:
    """Build (or reuse) every target the specs name, and their dependency targets."""
    built: dict[str, BuiltTarget] = {}
    selected: list[Program] = []
    for spec in specs:
        for target in (*DEP_TARGETS.get(spec.target, ()), spec.target):
            if target in built:
                continue
            if target != spec.target and not (source.selftests / target).is_dir():
                continue  # an older tree without that dependency target
            built[target] = build_target(source, target)
        bt = built[spec.target]
        by_name = {p.name: p for p in bt.programs}
        for name in spec.programs or tuple(by_name):
            if name not in by_name:
                raise KselftestError(
                    f"kselftest target {spec.target} has no program '{name}' in "
                    f"{source.identity} (programs: {', '.join(by_name)})"
                )
            selected.append(by_name[name])
    return InstalledTree(source, tuple(built.values()), tuple(selected))


# ------------------------------------------------------------------------ in the guest


def install(machine, tree: InstalledTree, dest: str = GUEST_ROOT) -> None:
    """Copy the built targets into the guest under *dest* (one tarball over SFTP)."""
    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "kselftest.tar.gz"
        with tarfile.open(tarball, "w:gz", compresslevel=1) as tar:
            for bt in tree.targets:
                for child in sorted(bt.root.iterdir()):
                    tar.add(child, arcname=child.name)
        remote = f"/tmp/nsh-kselftest-{os.getpid()}.tar.gz"
        machine.put(tarball, remote)
    machine.run(
        f"mkdir -p {shlex.quote(dest)} && tar -xzf {remote} -C {shlex.quote(dest)} && rm {remote}",
        timeout=120,
        check=True,
    )


@dataclass
class ProgramResult:
    """What one program did in the guest: raw output, exit, timing, kernel log, KTAP."""

    program: Program
    output: str  # stdout and stderr, interleaved as the program wrote them
    rc: int | None  # exit code as a shell reports it (128+N: killed by signal N)
    duration_s: float
    timeout: int
    timed_out: bool = False
    guest_died: str | None = None  # console evidence if the guest crashed meanwhile
    kernel_log: list[str] = field(default_factory=list)
    suite: ktap.Suite = field(default_factory=ktap.Suite)

    def records(self) -> list[ktap.Record]:
        """The program's own record first, then one per subtest (see the design note)."""
        prefix = (self.program.target, self.program.name)
        subs = ktap.flatten(self.suite, prefix) if self.suite.is_ktap else []
        return [self.program_record(), *(subs or script_checks(self.output, prefix))]

    def program_record(self) -> ktap.Record:
        """The program as kselftest's runner judges it, and why it stopped if it did."""
        outcome, reason = self._verdict()
        return ktap.Record(
            path=(self.program.target, self.program.name),
            outcome=outcome,
            reason=reason,
            diagnostics=tuple(self.output.rstrip("\n").splitlines()[-40:]),  # where it stopped
        )

    def _verdict(self) -> tuple[str, str | None]:
        s = self.suite
        if s.plan is not None and len(s.tests) < s.plan:
            done = f" after {len(s.tests)} of {s.plan} planned results"
        else:
            done = f" after {len(s.tests)} results" if s.tests else ""
        rc = self.rc
        if not self.program.built:
            return "error", f"did not build (see {self.program.log})"
        if self.guest_died:
            first = self.guest_died.strip().splitlines()[0] if self.guest_died.strip() else ""
            return "error", f"guest died while the program ran{done}: {first}"
        if self.timed_out:
            return "error", f"timed out after {self.timeout} s{done}"
        if rc is None:
            return "error", f"no exit status (the SSH channel closed){done}"
        if 128 < rc < 128 + 65:
            try:
                name = signal.Signals(rc - 128).name
            except ValueError:
                name = f"signal {rc - 128}"
            return "error", f"crashed: killed by {name}{done}"
        if rc == SKIP_RC:
            lines = [ln.strip() for ln in self.output.splitlines() if ln.strip()]
            why = s.skip_reason or _last_skip(s) or (lines[-1] if lines else "")
            return "skipped", why or "exit 4 (skip)"
        problem = s.problem() if s.is_ktap else None
        if rc == 0:
            return ("error", f"incomplete: {problem}") if problem else ("passed", None)
        return "failed", f"exit={rc}" + (f"; incomplete: {problem}" if problem else "")


def _last_skip(suite: ktap.Suite) -> str | None:
    skips = [t.reason for t in suite.tests if t.directive == "SKIP" and t.reason]
    return skips[-1] if skips else None


_SCRIPT_CHECK = (
    # lib.sh's log_test / fib_tests.sh: "    TEST: description          [ OK ]"
    re.compile(r"^\s*TEST:\s+(?P<name>.*?)\s+\[\s*(?P<verdict>OK|FAIL|SKIP|XFAIL)\s*\]\s*$"),
    # rtnetlink.sh, netdevice.sh: "PASS: description", "FAIL: ...", "SKIP: ..."
    re.compile(r"^(?P<verdict>PASS|FAIL|SKIP|XFAIL):\s*(?P<name>.+?)\s*$"),
)
_VERDICTS = {
    "OK": "passed",
    "PASS": "passed",
    "FAIL": "failed",
    "SKIP": "skipped",
    "XFAIL": "xfail",
}


def script_checks(output: str, prefix: tuple[str, ...]) -> list[ktap.Record]:
    """Per-check records from a script that prints no KTAP but one verdict line per check
    (the net scripts' conventions); the lines before a verdict are its diagnostics."""
    out: list[ktap.Record] = []
    seen: dict[str, int] = {}
    pending: list[str] = []
    for line in output.splitlines():
        m = next((r.match(line) for r in _SCRIPT_CHECK if r.match(line)), None)
        if not m:
            if out and not pending and line.startswith("\t") and out[-1].reason is None:
                # lib.sh's log_test prints the failure's message indented under it
                out[-1] = dataclasses.replace(out[-1], reason=line.strip())
            elif line.strip():
                pending.append(line.rstrip())
            continue
        name = m.group("name")
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}#{seen[name]}"
        outcome = _VERDICTS[m.group("verdict")]
        out.append(
            ktap.Record(
                path=(*prefix, name),
                outcome=outcome,
                reason=None,
                diagnostics=tuple(pending[-20:]) if outcome != "passed" else (),
            )
        )
        pending = []
    return out


def run_program(
    machine,
    program: Program,
    timeout: int | None = None,
    root: str = GUEST_ROOT,
) -> ProgramResult:
    """Run one installed program in the guest as kselftest's runner does (in its directory,
    line-buffered, under `timeout`), keeping its output even if it dies or the guest does."""
    limit = program.timeout if timeout is None else timeout
    if not program.built:
        return ProgramResult(program, "", None, 0.0, limit)
    marker = f"nsharness: kselftest {program.id} start {time.time_ns()}"
    tdir = shlex.quote(f"{root}/{program.target}")
    prog = shlex.quote(f"./{program.name}")
    guard = f"timeout -k 5 {limit} " if limit > 0 else ""
    script = (
        f"echo {shlex.quote(marker)} > /dev/kmsg; cd {tdir} || exit 97; "
        f"buf=; command -v stdbuf >/dev/null && buf='stdbuf -oL -eL'; "
        f"if [ -x {prog} ]; then cmd={prog}; "
        f'else cmd="$(head -n1 {prog} | sed -n "s/^#!//p") {prog}"; fi; '
        f"{guard}$buf $cmd 2>&1; echo $? >&2"
    )
    host_limit = (limit if limit > 0 else 24 * 3600) + 30
    out, err, state = _stream(machine, f"sh -c {shlex.quote(script)}", host_limit)
    duration = state["duration"]
    rc: int | None = None
    err_lines = err.strip().splitlines()
    if err_lines and err_lines[-1].strip().lstrip("-").isdigit():
        rc = int(err_lines[-1].strip())
    result = ProgramResult(
        program=program,
        output=out,
        rc=rc,
        duration_s=round(duration, 3),
        timeout=limit,
        timed_out=state["host_timeout"]
        or (limit > 0 and (rc == TIMEOUT_RC or (rc == 128 + 9 and duration >= limit))),
        guest_died=state["died"],
        suite=ktap.parse(out),
    )
    if not state["died"]:
        result.kernel_log = kernel_log_since(machine, marker)
    return result


def _stream(machine, cmd: str, limit: float) -> tuple[str, str, dict]:
    """Run *cmd* on its own channel, reading as it goes, so a guest death keeps the output."""
    from .errors import GuestDied

    start = time.monotonic()
    state = {"host_timeout": False, "died": None, "duration": 0.0}
    ssh = machine.ssh
    if ssh is None:
        raise GuestDied(f"guest {machine.kernel.release} is not running")
    chan = ssh.open_channel(cmd)
    chan.settimeout(0.05)
    out, err = bytearray(), bytearray()
    next_check = start + 0.5
    while True:
        drained = False
        while chan.recv_ready():
            out += chan.recv(65536)
            drained = True
        while chan.recv_stderr_ready():
            err += chan.recv_stderr(65536)
            drained = True
        if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
            break
        now = time.monotonic()
        if now > start + limit:
            state["host_timeout"] = True
            break
        if now > next_check:
            next_check = now + 0.5
            if not machine.alive() or not ssh.transport.is_active():
                break
        if not drained:
            time.sleep(0.005)
    # A channel that ends without an exit status (-1), or a dead transport: did the guest die?
    if not state["host_timeout"] and (
        not ssh.transport.is_active() or chan.recv_exit_status() == -1 or not machine.alive()
    ):
        state["died"] = _death_evidence(machine, ssh)
    chan.close()
    state["duration"] = time.monotonic() - start
    return out.decode(errors="replace"), err.decode(errors="replace"), state


def _death_evidence(machine, ssh, grace: float = 3.0) -> str | None:
    """The console's account of a guest that went away, after *grace* s for QEMU to exit."""
    deadline = time.monotonic() + grace
    while machine.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if machine.alive() and ssh.transport.is_active():
        return None  # only this channel closed; the guest is fine
    time.sleep(0.5)  # let the console file catch the panic's last lines
    qemu = getattr(machine, "qemu", None)
    crash = qemu.console.crash() if qemu is not None else None  # the headline: panic, Oops
    evidence = "\n".join(x for x in (crash, machine.console_tail(60)) if x)
    return evidence or "the guest stopped answering"


def kernel_log_since(machine, marker: str) -> list[str]:
    """Kernel log lines after *marker* (written to /dev/kmsg before the program started)."""
    try:
        res = machine.run("dmesg", timeout=30)
    except (HarnessError, OSError, paramiko.SSHException):
        return []
    lines = res.stdout.splitlines()
    idx = next((i for i in range(len(lines) - 1, -1, -1) if marker in lines[i]), None)
    return lines[idx + 1 :] if idx is not None else []


# ------------------------------------------------------------------------ report records


REPORT_OUTPUT_MAX = 64 * 1024  # characters of raw output a report record keeps


def clip(text: str, limit: int = REPORT_OUTPUT_MAX) -> str:
    """Head and tail of a long output (pidfd_test prints 0.5 MB in 135 s under TCG)."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit // 4], text[-(limit - limit // 4) :]
    return f"{head}\n[... {len(text) - len(head) - len(tail)} characters cut ...]\n{tail}"


def report_tests(result: ProgramResult, kernel: str) -> list[dict]:
    """Test records in today's report schema (harness/data/report.schema.json), one per
    ktap.Record of the program, with `name`, `params` and `path` for the new report package."""
    from .console import find_splats

    out = []
    splats = find_splats(result.kernel_log)
    for rec in result.records():
        target, prog, *sub = rec.path
        # "[...]" ends a nodeid (the kernel's id): keep it out of subtest names
        node = f"kselftest/{target}/{prog}" + "".join(
            "::" + s.replace("[", "(").replace("]", ")") for s in sub
        )
        is_program = not sub
        outcome = "passed" if rec.outcome == "xfail" else rec.outcome
        message = None
        if rec.outcome in ("failed", "error"):
            message = "\n".join(filter(None, [rec.reason, *rec.diagnostics[-30:]])) or None
        if is_program and splats and outcome in ("passed", "skipped"):
            # as for scenarios: a kernel splat while the program ran fails it
            outcome = "failed"
            message = f"kernel {splats[0].kind} during the program: {splats[0].headline}"
        out.append(
            {
                "nodeid": f"{node}[{kernel}]",
                "name": rec.path[-1],
                "path": list(rec.path),
                "params": {"kernel": kernel},
                "kernel": kernel,
                "area": f"kselftest:{target}",
                "outcome": outcome,
                "duration_s": result.duration_s if is_program else 0.0,
                "skip_reason": rec.reason if rec.outcome == "skipped" else None,
                "message": message,
                "observations": {
                    "ktap": {
                        "outcome": rec.outcome,
                        "directive": rec.directive,
                        "number": rec.number,
                        "reason": rec.reason,
                    },
                    **(
                        {
                            "rc": result.rc,
                            "timeout_s": result.timeout,
                            "output": clip(result.output),
                            "output_bytes": len(result.output.encode()),
                        }
                        if is_program
                        else {}
                    ),
                },
                "kernel_log": result.kernel_log if is_program else [],
                "splats": [sp.to_dict() for sp in splats] if is_program else [],
                "console_tail": result.guest_died if is_program else None,
                "reproduce": None,
            }
        )
    return out
