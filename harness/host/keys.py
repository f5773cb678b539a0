"""SSH keys, generated once per installation and never shared between installations.

The client key logs into the guest; the host key is what the guest's SSH server presents.
Because the harness puts the host key into the guest itself (through the initrd), it knows
the key in advance and pins it: a guest presenting any other key is refused.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .cache import atomic_file, data_root, locked


@dataclass(frozen=True)
class KeyPair:
    private_path: Path
    public_line: str  # "ssh-ed25519 AAAA... comment"

    def pkey(self) -> paramiko.PKey:
        return paramiko.Ed25519Key.from_private_key_file(str(self.private_path))

    @property
    def fingerprint(self) -> str:
        return self.pkey().fingerprint


@dataclass(frozen=True)
class Keys:
    client: KeyPair
    host: KeyPair

    def host_pkey_public(self) -> paramiko.PKey:
        """The pinned host key, as paramiko compares it."""
        return paramiko.PKey.from_type_string("ssh-ed25519", _blob(self.host.public_line))

    def dropbear_host_key(self) -> bytes:
        """The host key in dropbear's own file format (dropbear's ed25519.c)."""
        priv = serialization.load_ssh_private_key(self.host.private_path.read_bytes(), None)
        seed = priv.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        pub = priv.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return _sshstr(b"ssh-ed25519") + _sshstr(seed + pub)


def _sshstr(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def _blob(public_line: str) -> bytes:
    import base64

    return base64.b64decode(public_line.split()[1])


def _make(path: Path, comment: str) -> KeyPair:
    pub_path = path.with_suffix(".pub")
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        pub = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        with atomic_file(path, mode=0o600) as tmp:
            tmp.write_bytes(pem)
        with atomic_file(pub_path, mode=0o644) as tmp:
            tmp.write_text(f"{pub.decode()} {comment}\n")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return KeyPair(path, pub_path.read_text().strip())


def installation_keys(root: Path | None = None) -> Keys:
    """Load this installation's keys, generating them on first use (mode 0600)."""
    root = root or data_root() / "keys"
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    with locked(root / "keys"):
        return Keys(
            client=_make(root / "client_ed25519", "nsharness-client"),
            host=_make(root / "guest_host_ed25519", "nsharness-guest"),
        )
