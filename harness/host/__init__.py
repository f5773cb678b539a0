"""This installation on this host: the private cache and data roots and how entries are
written into them (cache), the SSH keys (keys), every child process the harness starts
(children, progress), the VMs' private directories (workdirs), tools on PATH (hostpath),
the files the package ships (resources) and /dev/kvm access (kvmaccess)."""
