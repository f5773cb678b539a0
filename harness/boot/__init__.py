"""What QEMU boots for a kernel: the vmlinux, the initrd (shared part cached, private part
per boot) and the modules disk, prepared once per kernel identity (files, initrd, modtree,
cpio)."""
