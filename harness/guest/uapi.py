"""The numbers the host and the guest share: kernel uapi values and the agent's port name.

One module both sides import — the host's scenario tests compare NS_GET_NSTYPE answers
with CLONE, QEMU names the agent's virtio-serial port AGENT_PORT, the host unshares with
CLONE_NEWUSER — so a value is written once. Plain numbers only: no ctypes, no libc, nothing
that would make importing it cost the host anything.
"""

#: The virtio-serial port QEMU gives the guest agent (harness/qemu.py) and the agent opens.
AGENT_PORT = "nsh.agent"

#: CLONE_NEW* by namespace type (include/uapi/linux/sched.h), as setns()/unshare() take them.
CLONE = {
    "cgroup": 0x02000000,
    "ipc": 0x08000000,
    "mnt": 0x00020000,
    "net": 0x40000000,
    "pid": 0x20000000,
    "time": 0x00000080,
    "user": 0x10000000,
    "uts": 0x04000000,
}
CLONE_NEWUSER = CLONE["user"]
CLONE_VM, CLONE_FS = 0x100, 0x200

# nsfs ioctls (include/uapi/linux/nsfs.h): _IO(0xb7, n); the 6.11/6.12 ones are _IOR.
NS_GET_USERNS, NS_GET_PARENT, NS_GET_NSTYPE, NS_GET_OWNER_UID = 0xB701, 0xB702, 0xB703, 0xB704
NS_GET_MNTNS_ID = 0x8008B705
NS_GET_PID_FROM_PIDNS, NS_GET_TGID_FROM_PIDNS = 0x8004B706, 0x8004B707
NS_GET_PID_IN_PIDNS, NS_GET_TGID_IN_PIDNS = 0x8004B708, 0x8004B709
NS_MNT_GET_INFO, NS_MNT_GET_NEXT, NS_MNT_GET_PREV = 0x8010B70A, 0x8010B70B, 0x8010B70C

# Where a socket lives: its netns cookie (getsockopt, 5.14+) and its netns fd (ioctl).
SO_NETNS_COOKIE = 71
SIOCGSKNS = 0x894C

# mount(2) flags and umount2(2)'s MNT_DETACH (include/uapi/linux/mount.h).
MS_BIND, MS_REC, MS_PRIVATE, MS_SLAVE, MS_SHARED = 4096, 16384, 1 << 18, 1 << 19, 1 << 20
MNT_DETACH = 2

# x86_64 syscall number nsops calls through syscall(2).
SYS_PIDFD_OPEN = 434
