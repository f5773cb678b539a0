"""One running guest: QEMU with its accelerator (accel, qemu) and console (console), the
guest agent's channel (agent) and SSH (ssh, remote), a saved ready guest (snapshot), tied
together by a Machine (machine, machineopts); `guest` is the interface the layers above
use instead of the Machine."""
