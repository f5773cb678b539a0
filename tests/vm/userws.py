"""An ordinary user with its own copy of this checkout, for tests and benchmarks run by root.

CI's checkout may sit under /root (mode 0700), where another user cannot even look, and
its venv's python may live there too: the user gets a copy of the checkout's files in a
directory it owns and makes its own venv with bootstrap.sh, as a developer would. All of
the user's commands run through runuser with a clean environment: that user's HOME,
its own XDG directories, the system PATH; nothing of root's (NSHARNESS_CACHE!) leaks in.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.image import userns
from harness.image.staging import STAGING_PREFIX

ROOT = Path(__file__).resolve().parents[2]
#: What a user's shell would also have: proxies and package indexes.
PASS_ENV = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "NSHARNESS_MIRROR",
    "TERM",
)
SKIP = {".venv", ".tox", "nsharness-out", "__pycache__", ".ruff_cache", ".pytest_cache"}


def ensure_user(name: str) -> pwd.struct_passwd:
    """The user, created if needed, with subordinate ids (useradd adds them; older
    systems, or a user made before /etc/subuid existed, may lack them)."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
        pw = pwd.getpwnam(name)
    su, sg = userns._read(userns.SUBUID), userns._read(userns.SUBGID)
    if userns.find_subid(su, name) is None or userns.find_subid(sg, name) is None:
        r = userns.free_range(su, sg)
        span = f"{r.start}-{r.end - 1}"
        subprocess.run(["usermod", "--add-subuids", span, "--add-subgids", span, name], check=True)
    Path(pw.pw_dir).mkdir(exist_ok=True)
    os.chown(pw.pw_dir, pw.pw_uid, pw.pw_gid)
    return pw


def checkout_files(src: Path) -> list[str]:
    """Tracked and untracked-but-not-ignored files (what a clone plus local edits holds)."""
    try:
        out = subprocess.run(
            ["git", "-c", f"safe.directory={src}", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=src,
            capture_output=True,
            check=True,
        ).stdout
        return [f for f in out.decode().split("\0") if f and (src / f).exists()]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = [d for d in dirnames if d not in SKIP and not d.endswith(".egg-info")]
            files += [str(Path(dirpath, f).relative_to(src)) for f in filenames]
        return files


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            os.chown(os.path.join(dirpath, n), uid, gid, follow_symlinks=False)


@dataclass
class Workspace:
    pw: pwd.struct_passwd
    dir: Path  # owned by the user, under its home

    @property
    def checkout(self) -> Path:
        return self.dir / "nsharness"

    @property
    def python(self) -> Path:
        return self.checkout / ".venv" / "bin" / "python"

    @classmethod
    def create(cls, user: str, pins: dict[str, str], src: Path = ROOT) -> Workspace:
        pw = ensure_user(user)
        d = Path(tempfile.mkdtemp(prefix="nsh-ws-", dir=pw.pw_dir))
        co = d / "nsharness"
        for rel in checkout_files(src):
            (co / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, co / rel, follow_symlinks=False)
        (d / "constraints.txt").write_text("".join(f"{k}=={v}\n" for k, v in pins.items()))
        for sub in ("cache", "data", "tmp"):
            (d / sub).mkdir()
        _chown_tree(d, pw.pw_uid, pw.pw_gid)
        return cls(pw, d)

    def env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in PASS_ENV if k in os.environ}
        env.update(
            HOME=self.pw.pw_dir,
            USER=self.pw.pw_name,
            LOGNAME=self.pw.pw_name,
            SHELL="/bin/bash",
            PATH="/usr/local/bin:/usr/bin:/bin",
            LANG="C.UTF-8",
            XDG_CACHE_HOME=str(self.dir / "cache"),
            XDG_DATA_HOME=str(self.dir / "data"),
            TMPDIR=str(self.dir / "tmp"),
            # The same pyroute2 as root's: the image carries it, and images are compared.
            PIP_CONSTRAINT=str(self.dir / "constraints.txt"),
        )
        return env

    def run(self, argv: list[str], timeout: float, **env: str) -> subprocess.CompletedProcess:
        """*argv* as the user, in its checkout; on timeout, everything it started dies."""
        cmd = ["runuser", "-u", self.pw.pw_name, "--", "env", "-i"]
        cmd += [f"{k}={v}" for k, v in {**self.env(), **env}.items()] + argv
        proc = subprocess.Popen(
            cmd,
            cwd=self.checkout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            out, _ = proc.communicate()
            out += f"\n[timed out after {timeout:.0f}s]"
        return subprocess.CompletedProcess(argv, proc.returncode, out)

    def processes(self) -> dict[int, str]:
        """The user's live processes (pid: command name). The user exists for this alone."""
        out = {}
        for p in Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                if p.stat().st_uid == self.pw.pw_uid:
                    out[int(p.name)] = (p / "comm").read_text().strip()
            except OSError:
                pass
        return out

    def kill_all(self) -> None:
        for _ in range(3):
            procs = self.processes()
            if not procs:
                return
            for pid in procs:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)

    def remove(self) -> None:
        """Root removes everything the user left: the workspace and stray build trees."""
        self.kill_all()
        shutil.rmtree(self.dir, ignore_errors=True)
        for base in (Path("/tmp"), Path("/var/tmp")):
            for d in base.glob(STAGING_PREFIX + "*"):
                try:
                    if d.stat().st_uid == self.pw.pw_uid:
                        shutil.rmtree(d, ignore_errors=True)
                except OSError:
                    pass


def timed(
    ws: Workspace, argv: list[str], timeout: float
) -> tuple[float, subprocess.CompletedProcess]:
    t = time.monotonic()
    res = ws.run(argv, timeout)
    return time.monotonic() - t, res
