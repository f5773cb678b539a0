"""What this host lacks for nsharness, and the exact command that fixes each thing.

An ordinary user needs a little more than root to build the guest image: subordinate
ids, newuidmap/newgidmap, and user namespaces the kernel lets them create. The checks are
pure functions of what they read (file contents, sysctl values, modes, group lists), so
they are tested on real values; one probe then really creates the namespace.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..host.hostpath import which
from ..image import userns

#: Debian packages the harness needs on the host: (command to look for, package).
HOST_TOOLS: tuple[tuple[str, str], ...] = (
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("mmdebstrap", "mmdebstrap"),
    ("busybox", "busybox-static"),
    ("zstd", "zstd"),
    ("lz4", "lz4"),
    ("mkfs.ext4", "e2fsprogs"),
    ("debugfs", "e2fsprogs"),
    ("depmod", "kmod"),
    ("cpio", "cpio"),
    ("apt-get", "apt"),
    ("dpkg-deb", "dpkg"),
)
PY_MODULES = ("paramiko", "pyroute2", "filelock", "rich", "qemu.qmp", "jsonschema", "pytest")
#: sysctl -> the value that forbids unprivileged user namespaces.
USERNS_SYSCTLS = {
    "kernel.unprivileged_userns_clone": "0",  # Debian's patch (older kernels)
    "user.max_user_namespaces": "0",
    "kernel.apparmor_restrict_unprivileged_userns": "1",  # Ubuntu 23.10+
}
USERNS_ALLOW = {
    "kernel.unprivileged_userns_clone": "1",
    "user.max_user_namespaces": "15000",
    "kernel.apparmor_restrict_unprivileged_userns": "0",
}


@dataclass(frozen=True)
class Finding:
    what: str
    ok: bool
    detail: str
    fix: str = ""


def subid_findings(user: str, subuid: str | None, subgid: str | None) -> list[Finding]:
    """/etc/subuid and /etc/subgid (contents, None if absent) as mmdebstrap reads them."""
    out = []
    texts = {"/etc/subuid": subuid, "/etc/subgid": subgid}
    fix = userns.subid_fix(user, subuid or "", subgid or "")
    for name, text in texts.items():
        what = "subordinate " + ("uids" if name.endswith("uid") else "gids")
        r = userns.find_subid(text or "", user)
        if text is None:
            out.append(Finding(what, False, f"{name} does not exist", fix))
        elif r is None:
            by_uid = any(o.isdigit() for o, _r in userns.subid_entries(text))
            detail = f"no range for {user} in {name}"
            if by_uid:
                detail += " (entries by uid number are ignored by mmdebstrap: use the name)"
            out.append(Finding(what, False, detail, fix))
        elif r.count < userns.MIN_SUBIDS:
            out.append(
                Finding(
                    what,
                    False,
                    f"{name} gives {user} only {r.count} ids (Debian's ids reach 65534; "
                    f"needs {userns.MIN_SUBIDS})",
                    fix,
                )
            )
        else:
            out.append(Finding(what, True, f"{name}: {user} has {r.start}..{r.end - 1}"))
    return out


def userns_sysctl_findings(values: dict[str, str | None]) -> list[Finding]:
    """The sysctls that switch unprivileged user namespaces off (None: not on this kernel)."""
    out = []
    for key, bad in USERNS_SYSCTLS.items():
        val = values.get(key)
        if val is not None and val.strip() == bad:
            good = USERNS_ALLOW[key]
            conf = f"/etc/sysctl.d/50-nsharness-{key.rsplit('.', 1)[1]}.conf"
            out.append(
                Finding(
                    "user namespaces",
                    False,
                    f"unprivileged user namespaces are off: {key}={bad}",
                    f"sudo sysctl -w {key}={good} && echo {key}={good} | sudo tee {conf}",
                )
            )
    if not out:
        shown = ", ".join(f"{k}={v.strip()}" for k, v in values.items() if v is not None)
        out.append(Finding("user namespaces", True, f"allowed ({shown or 'no limits'})"))
    return out


def idmap_tool_finding(name: str, path: str | None, mode: int, uid: int, caps: bool) -> Finding:
    """newuidmap/newgidmap must exist and be able to act as root: setuid root or file caps."""
    if path is None:
        return Finding(name, False, "missing", "sudo apt-get install -y uidmap")
    if (mode & stat.S_ISUID and uid == 0) or caps:
        return Finding(name, True, path)
    return Finding(
        name,
        False,
        f"{path} is neither setuid root nor given capabilities ({stat.filemode(mode)})",
        "sudo apt-get install -y --reinstall uidmap",
    )


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _sysctl(key: str) -> str | None:
    return _read("/proc/sys/" + key.replace(".", "/"))


def _idmap_tool(name: str) -> Finding:
    path = which(name)
    if path is None:
        return idmap_tool_finding(name, None, 0, 0, False)
    st = os.stat(path)
    try:
        caps = bool(os.getxattr(path, "security.capability"))
    except OSError:
        caps = False
    return idmap_tool_finding(name, path, st.st_mode, st.st_uid, caps)


def userns_probe() -> Finding:
    """Really make the build namespace: the one check that cannot be reasoned about."""
    try:
        idmap = userns.subid_map()
    except userns.UsernsError:
        return Finding("user namespace probe", False, "not tried: fix what is missing above")
    chroot = which("chroot") or "chroot"
    script = f'test "$(id -u)" = 0 && {chroot} / /bin/true'
    try:
        res = subprocess.run(
            userns.command(["/bin/sh", "-c", script], idmap),
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        return Finding("user namespace probe", False, "timed out")
    if res.returncode == 0:
        return Finding("user namespace probe", True, "created one mapped onto your subordinate ids")
    err = (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
    return Finding("user namespace probe", False, err)


def unprivileged_findings() -> list[Finding]:
    """What an ordinary user needs beyond root's tools (image build in a user namespace)."""
    user = pwd.getpwuid(os.getuid()).pw_name
    out = subid_findings(user, _read("/etc/subuid"), _read("/etc/subgid"))
    out += userns_sysctl_findings({k: _sysctl(k) for k in USERNS_SYSCTLS})
    out += [_idmap_tool("newuidmap"), _idmap_tool("newgidmap")]
    out.append(userns_probe())
    return out


def _static_busybox() -> bool:
    path = which("busybox")
    if not path:
        return False
    with open(path, "rb") as f:
        head = f.read(4096)
    return b"ld-linux" not in head and b"/lib64/ld" not in head


def check() -> list[Finding]:
    out: list[Finding] = []
    missing_pkgs = []
    for cmd, pkg in HOST_TOOLS:
        found = which(cmd) or (cmd == "busybox" and os.path.exists("/bin/busybox"))
        ok = bool(found) and (cmd != "busybox" or _static_busybox())
        if not ok:
            missing_pkgs.append(pkg)
        out.append(Finding(cmd, ok, str(found or "missing"), f"apt-get install -y {pkg}"))
    for mod in PY_MODULES:
        ok = importlib.util.find_spec(mod) is not None
        out.append(
            Finding(
                f"python: {mod}",
                ok,
                "importable" if ok else "missing",
                "pip install -e ." if not ok else "",
            )
        )
    if os.geteuid() == 0:
        out.append(Finding("unprivileged build", True, "not needed: running as root"))
    else:
        unpriv = unprivileged_findings()
        if any(
            f.what.startswith("newuidmap") and not f.ok and "missing" in f.detail for f in unpriv
        ):
            missing_pkgs.append("uidmap")
        out += unpriv
    from ..vm.accel import probe_kvm

    if which("qemu-system-x86_64"):
        # Not fatal (TCG runs everything), but the fix is often one command away.
        works, why = probe_kvm()
        out.append(Finding("kvm", True, ("usable: " if works else "not usable, TCG: ") + why))
    if missing_pkgs:
        out.append(
            Finding(
                "install",
                False,
                "missing Debian packages",
                "sudo apt-get update && sudo apt-get install -y --no-install-recommends "
                + " ".join(dict.fromkeys(missing_pkgs)),
            )
        )
    return out
