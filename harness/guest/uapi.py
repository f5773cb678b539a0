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

# ---------------------------------------------------------------- since 6.12 (items 38-71)
# Namespace ids (include/uapi/linux/nsfs.h): NS_GET_ID = _IOR(0xb7, 13, __u64); the fixed ids
# and inode numbers of the initial namespaces (enum init_ns_id / init_ns_ino, 6.19 / 6.17).
NS_GET_ID = 0x8008B70D
INIT_NS_ID = {"ipc": 1, "uts": 2, "user": 3, "pid": 4, "cgroup": 5, "time": 6, "net": 7, "mnt": 8}
INIT_NS_INO = {"ipc": 0xEFFFFFFF, "uts": 0xEFFFFFFE, "user": 0xEFFFFFFD, "pid": 0xEFFFFFFC,
               "cgroup": 0xEFFFFFFB, "time": 0xEFFFFFFA, "net": 0xEFFFFFF9,
               "mnt": 0xEFFFFFF8}  # fmt: skip
PROC_DYNAMIC_FIRST = 0xF0000000  # fs/proc/generic.c: proc_alloc_inum() hands out from here
# nsfs file handles (include/uapi/linux/fcntl.h, exportfs.h): FD_NSFS_ROOT, FILEID_NSFS,
# struct nsfs_file_handle {__u64 ns_id; __u32 ns_type; __u32 ns_inum;} (16 bytes).
FD_NSFS_ROOT, FILEID_NSFS, NSFS_HANDLE_SIZE = -10003, 0xF1, 16
FILEID_INO64_GEN = 0x81  # what AT_HANDLE_FID gives for an nsfs file before nsfs had handles
AT_FDCWD, AT_EMPTY_PATH, AT_HANDLE_FID, AT_RECURSIVE = -100, 0x1000, 0x200, 0x8000
# listns(2) (kernel/nstree.c): struct ns_id_req is 32 bytes in version 0.
LISTNS_CURRENT_USER, NS_ID_REQ_SIZE_VER0 = 0xFFFFFFFFFFFFFFFF, 32
# pidfd (include/uapi/linux/pidfd.h): PIDFD_GET_INFO = _IOWR(0xFF, 11, struct pidfd_info);
# PIDFD_GET_<TYPE>_NAMESPACE = _IO(0xFF, n); the PIDFD_SELF sentinel (6.15).
PIDFD_INFO_SIZE_VER0 = 64
PIDFD_INFO_PID, PIDFD_INFO_CREDS, PIDFD_INFO_CGROUPID = 1 << 0, 1 << 1, 1 << 2
PIDFD_INFO_EXIT, PIDFD_INFO_SUPPORTED_MASK = 1 << 3, 1 << 5
PIDFD_GET_NS = {"cgroup": 1, "ipc": 2, "mnt": 3, "net": 4, "pid": 5, "pid_for_children": 6,
                "time": 7, "time_for_children": 8, "user": 9, "uts": 10}  # fmt: skip
PIDFD_SELF, PIDFD_SELF_PROCESS = -10000, -10001
# Mount namespaces from fds (include/uapi/linux/mount.h, sched.h; 7.0-7.1).
OPEN_TREE_CLONE, OPEN_TREE_NAMESPACE, FSMOUNT_NAMESPACE, FSCONFIG_CMD_CREATE = 1, 2, 2, 6
UNSHARE_EMPTY_MNTNS, CLONE_PIDFD = 0x00100000, 0x1000
CLONE_AUTOREAP, CLONE_NNP, CLONE_PIDFD_AUTOKILL = 1 << 34, 1 << 35, 1 << 36
CLONE_EMPTY_MNTNS = 1 << 37
NULLFS_MAGIC, TMPFS_MAGIC = 0x4E554C4C, 0x01021994

# x86_64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl).
SYS_NAME_TO_HANDLE_AT, SYS_OPEN_BY_HANDLE_AT, SYS_OPEN_TREE = 303, 304, 428
SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT, SYS_CLONE3, SYS_LISTNS = 430, 431, 432, 435, 470
