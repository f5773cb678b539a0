"""User namespaces, so that an ordinary user can build the guest image.

mmdebstrap's unshare mode builds the tree as root of a user namespace whose ids 0..N-1 are
the user's subordinate ids (/etc/subuid, /etc/subgid): on the host the tree belongs to
those ids, and only a namespace with the same mapping shows its real owners. The image's
finishing steps (chroot, mkfs.ext4 -d, removing the tree) therefore run in such a
namespace, with the user's own ids mapped just above the range so that the user's private
cache stays reachable from inside. A second, simpler mapping (the user as root, nothing
else) packs user-owned trees, such as a kernel's modules, with root as their owner.

`python -m harness.image.userns --map JSON -- CMD...` enters the namespace and execs CMD as its
root; `command()` builds that line. Root itself needs no namespace: `command()` then
returns CMD unchanged, so root and users run the same steps.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import pwd
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import HarnessError
from ..guest.uapi import CLONE_NEWUSER
from ..host.hostpath import which

SUBUID, SUBGID = Path("/etc/subuid"), Path("/etc/subgid")
#: Debian's own ids reach 65534 (nobody, nogroup): a smaller range cannot hold a Debian tree.
MIN_SUBIDS = 65536


class UsernsError(HarnessError):
    """No user namespace with the needed mapping can be made here."""


@dataclass(frozen=True)
class SubIdRange:
    start: int
    count: int

    @property
    def end(self) -> int:
        return self.start + self.count


def subid_entries(text: str) -> list[tuple[str, SubIdRange]]:
    """Every well-formed `owner:start:count` line of /etc/subuid or /etc/subgid."""
    out = []
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            out.append((parts[0], SubIdRange(int(parts[1]), int(parts[2]))))
    return out


def find_subid(text: str, user: str) -> SubIdRange | None:
    """The range mmdebstrap will use: the first line naming *user* (by name, not uid)."""
    return next((r for owner, r in subid_entries(text) if owner == user), None)


def free_range(subuid_text: str, subgid_text: str, count: int = MIN_SUBIDS) -> SubIdRange:
    """A range no existing entry of either file overlaps (for the fix command we print)."""
    ranges = [r for _o, r in subid_entries(subuid_text) + subid_entries(subgid_text)]
    start = max([100000, *(r.end for r in ranges)])
    return SubIdRange(start, count)


def subid_fix(user: str, subuid_text: str, subgid_text: str) -> str:
    r = free_range(subuid_text, subgid_text)
    span = f"{r.start}-{r.end - 1}"
    return f"sudo usermod --add-subuids {span} --add-subgids {span} {user}"


@dataclass(frozen=True)
class IdMap:
    """A namespace's uid_map/gid_map lines (inside, outside, count) and who the caller is
    inside it (files the harness creates there are handed back to that owner)."""

    uids: tuple[tuple[int, int, int], ...]
    gids: tuple[tuple[int, int, int], ...]
    owner: tuple[int, int]

    def to_json(self) -> str:
        return json.dumps({"uids": self.uids, "gids": self.gids, "owner": self.owner})

    @classmethod
    def from_json(cls, text: str) -> IdMap:
        d = json.loads(text)
        return cls(
            tuple(tuple(x) for x in d["uids"]),
            tuple(tuple(x) for x in d["gids"]),
            tuple(d["owner"]),
        )

    @property
    def self_only(self) -> bool:
        """Maps just the caller's own ids: the kernel lets it write that map unaided."""
        return len(self.uids) == 1 and len(self.gids) == 1 and self.uids[0][2] == 1


def build_map(uid: int, gid: int, subuid: SubIdRange, subgid: SubIdRange) -> IdMap:
    """mmdebstrap's mapping (0.. -> subordinate ids) plus the caller just above it."""
    if subuid.start <= uid < subuid.end or subgid.start <= gid < subgid.end:
        raise UsernsError(f"uid {uid}/gid {gid} lies inside its own subordinate range")
    return IdMap(
        uids=((0, subuid.start, subuid.count), (subuid.count, uid, 1)),
        gids=((0, subgid.start, subgid.count), (subgid.count, gid, 1)),
        owner=(subuid.count, subgid.count),
    )


def self_as_root(uid: int, gid: int) -> IdMap:
    return IdMap(uids=((0, uid, 1),), gids=((0, gid, 1),), owner=(0, 0))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
    except OSError as e:
        raise UsernsError(f"cannot read {path}: {e.strerror}") from e


def subid_map() -> IdMap:
    """The build namespace's mapping for the calling user, or a one-line reason why not."""
    uid, gid = os.getuid(), os.getgid()
    user = pwd.getpwuid(uid).pw_name
    su, sg = _read(SUBUID), _read(SUBGID)
    ranges = {"/etc/subuid": find_subid(su, user), "/etc/subgid": find_subid(sg, user)}
    for name, r in ranges.items():
        if r is None or r.count < MIN_SUBIDS:
            what = "no range" if r is None else f"only {r.count} ids (needs {MIN_SUBIDS})"
            raise UsernsError(
                f"building the guest image as '{user}' needs subordinate ids: {name} has "
                f"{what} for {user}; fix: {subid_fix(user, su, sg)}"
            )
    if which("newuidmap") is None or which("newgidmap") is None:
        raise UsernsError(
            "building the guest image as an ordinary user needs newuidmap/newgidmap; "
            "fix: sudo apt-get install -y uidmap"
        )
    return build_map(uid, gid, ranges["/etc/subuid"], ranges["/etc/subgid"])


def command(argv: list[str], idmap: IdMap | None) -> list[str]:
    """*argv* run as root of a namespace with *idmap* (None: as it is, e.g. for root)."""
    if idmap is None:
        return argv
    return [sys.executable, "-m", "harness.image.userns", "--map", idmap.to_json(), "--", *argv]


# ----------------------------------------------------------------- entering (helper process)


def _lines(entries: tuple[tuple[int, int, int], ...]) -> str:
    return "".join(f"{i} {o} {n}\n" for i, o, n in entries)


def _map_process(pid: int, m: IdMap) -> None:
    """Write *pid*'s maps: directly when allowed (root, or only our own ids), else via the
    setuid newuidmap/newgidmap that check /etc/subuid and /etc/subgid for us."""
    if os.geteuid() == 0 or m.self_only:
        if os.geteuid() != 0:
            Path(f"/proc/{pid}/setgroups").write_text("deny")
        Path(f"/proc/{pid}/uid_map").write_text(_lines(m.uids))
        Path(f"/proc/{pid}/gid_map").write_text(_lines(m.gids))
        return
    for tool, entries in (("newuidmap", m.uids), ("newgidmap", m.gids)):
        args = [str(x) for e in entries for x in e]
        res = subprocess.run([which(tool) or tool, str(pid), *args], capture_output=True, text=True)
        if res.returncode != 0:
            why = " | ".join(res.stderr.split("\n")).strip(" |") or f"exit {res.returncode}"
            raise UsernsError(f"{tool} failed: {why}")


def enter(m: IdMap) -> None:
    """Move this process into a new user namespace mapped by *m*, as its root.

    A process cannot map itself from inside, and a setuid helper started from inside
    would not run as root: a child forked beforehand writes the maps (as mmdebstrap does).
    """
    r, w = os.pipe()  # EOF on r: the parent has unshared
    er, ew = os.pipe()  # the child's error, if any
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.close(er)
        os.read(r, 1)
        try:
            _map_process(os.getppid(), m)
        except (OSError, UsernsError) as e:
            os.write(ew, str(e).encode()[:2000])
            os._exit(1)
        os._exit(0)
    os.close(r)
    os.close(ew)
    libc = ctypes.CDLL(None, use_errno=True)
    failed = libc.unshare(CLONE_NEWUSER) != 0
    err = ctypes.get_errno()
    os.close(w)
    child_error = os.read(er, 4096).decode(errors="replace")
    os.close(er)
    _, status = os.waitpid(pid, 0)
    if failed:
        raise UsernsError(f"cannot create a user namespace: {os.strerror(err)}")
    if status != 0:
        raise UsernsError(f"cannot map the user namespace: {child_error or 'mapper failed'}")
    try:
        os.setgid(0)
        os.setuid(0)
    except OSError as e:  # e.g. AppArmor's restriction: a namespace without capabilities
        raise UsernsError(f"no root in the new user namespace: {e.strerror}") from e
    if not m.self_only:
        os.setgroups([])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.image.userns")
    p.add_argument("--map", required=True, help="IdMap as JSON")
    p.add_argument("cmd", nargs="+")
    args = p.parse_args(argv)
    try:
        enter(IdMap.from_json(args.map))
    except UsernsError as e:
        print(f"nsharness: {e}", file=sys.stderr)
        return 125
    # Nothing run as this root may leave host-owned-by-subuid bytecode in the user's tree.
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        os.execvp(args.cmd[0], args.cmd)
    except OSError as e:
        print(f"nsharness: cannot run {args.cmd[0]}: {e.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main())
