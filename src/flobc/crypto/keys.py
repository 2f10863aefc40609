"""Ed25519 key pairs, key files and identifiers derived from public keys."""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import BadSignatureError, CryptoError
from nacl.signing import SigningKey, VerifyKey

from flobc.durable import write_atomic
from flobc.encoding import sha256

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
ADDRESS_BYTES = 20


def address_of(public_key: bytes) -> bytes:
    """The 20-byte address of a public key: the first bytes of its SHA-256."""
    return sha256(public_key)[:ADDRESS_BYTES]


def node_id_of(public_key: bytes) -> str:
    """The printable id of a node or trainer (hex address)."""
    return address_of(public_key).hex()


_pubkey_cache: dict[bytes, VerifyKey] = {}


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``.

    libsodium (through PyNaCl) checks a signature in about half the time of OpenSSL here,
    and rejects small-order keys. Results are memoised: a transaction is checked on
    admission, on proposal and on execution, and a lookup costs well under a microsecond.
    """
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    return _verify_cached(public_key, message, signature)


@functools.lru_cache(maxsize=1 << 16)
def _verify_cached(public_key: bytes, message: bytes, signature: bytes) -> bool:
    key = _pubkey_cache.get(public_key)
    if key is None:
        try:
            key = VerifyKey(public_key)
        except (CryptoError, ValueError, TypeError):
            return False
        if len(_pubkey_cache) < 4096:
            _pubkey_cache[public_key] = key
    try:
        key.verify(message, signature)
    except (BadSignatureError, CryptoError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class KeyPair:
    """An Ed25519 signing key and its public key."""

    private: SigningKey
    public_key: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_seed(os.urandom(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        """Deterministic key pair from a 32-byte seed (tests and simulations)."""
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        private = SigningKey(seed)
        return cls(private, bytes(private.verify_key))

    @property
    def address(self) -> bytes:
        return address_of(self.public_key)

    @property
    def node_id(self) -> str:
        return node_id_of(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message).signature

    def seed(self) -> bytes:
        return bytes(self.private)

    def save(self, path: Path) -> None:
        """Write the key file with mode 0600 (created that way, never widened)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"type": "ed25519", "seed": self.seed().hex(), "public_key": self.public_key.hex()}
        write_atomic(path, json.dumps(doc, indent=2).encode(), mode=0o600)

    @classmethod
    def load(cls, path: Path) -> KeyPair:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise PermissionError(f"key file {path} has mode {mode:o}; it must be 0600")
        doc = json.loads(path.read_text())
        if doc.get("type") != "ed25519":
            raise ValueError(f"{path}: not an ed25519 key file")
        pair = cls.from_seed(bytes.fromhex(doc["seed"]))
        if pair.public_key.hex() != doc.get("public_key"):
            raise ValueError(f"{path}: public key does not match the seed")
        return pair
