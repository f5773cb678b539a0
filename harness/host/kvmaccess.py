"""Why this user cannot open /dev/kvm, and the exact command that changes that.

"Permission denied" alone sends people searching; the device's owner, group and mode and
the user's groups (in /etc/group and in this login session, which can differ) say which
of the few usual causes it is.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass

KVM = "/dev/kvm"


@dataclass(frozen=True)
class DevNode:
    mode: int  # st_mode
    uid: int
    gid: int
    owner: str
    group: str

    def describe(self) -> str:
        return f"{stat.filemode(self.mode)} {self.owner}:{self.group}"


@dataclass(frozen=True)
class Denial:
    reason: str
    fix: str


def explain(
    node: DevNode | None,
    uid: int,
    user: str,
    session_gids: set[int],
    listed_groups: set[str],
) -> Denial | None:
    """Why *user* cannot open /dev/kvm by its mode bits, or None if the bits allow it.

    *session_gids*: the groups this process has (os.getgroups); *listed_groups*: the groups
    /etc/group gives the user, which a session started before `usermod -aG` lacks.
    """
    if node is None:
        return Denial(
            f"{KVM} does not exist (no KVM module loaded, or a VM without nested virtualisation)",
            "sudo modprobe kvm_intel || sudo modprobe kvm_amd",
        )
    if uid == 0 or node.mode & 0o006 == 0o006:
        return None
    if node.uid == uid and node.mode & 0o600 == 0o600:
        return None
    if node.mode & 0o060 == 0o060:
        if node.gid in session_gids:
            return None
        if node.group in listed_groups:
            return Denial(
                f"in the {node.group} group, but this login session started before that",
                f"newgrp {node.group}  # or log out and in again",
            )
        return Denial(
            f"not in the {node.group} group ({KVM} is {node.describe()})",
            f"sudo usermod -aG {node.group} {user}  # then log out and in again",
        )
    return Denial(
        f"{KVM} is {node.describe()}: only {node.owner} may open it (no udev rule gave it "
        "to the kvm group)",
        f"sudo groupadd -f kvm && sudo chgrp kvm {KVM} && sudo chmod 0660 {KVM} && "
        f"sudo usermod -aG kvm {user}",
    )


def _name(lookup, ident: int) -> str:
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def host_denial() -> Denial | None:
    """explain() on this host's /dev/kvm and this process's user and groups."""
    try:
        st = os.stat(KVM)
        owner, group = _name(pwd.getpwuid, st.st_uid), _name(grp.getgrgid, st.st_gid)
        node = DevNode(st.st_mode, st.st_uid, st.st_gid, owner, group)
    except FileNotFoundError:
        node = None
    uid = os.getuid()
    user = _name(pwd.getpwuid, uid)
    listed = {g.gr_name for g in grp.getgrall() if user in g.gr_mem}
    try:
        listed.add(grp.getgrgid(pwd.getpwuid(uid).pw_gid).gr_name)
    except KeyError:
        pass
    return explain(node, uid, user, {os.getgid(), *os.getgroups()}, listed)
