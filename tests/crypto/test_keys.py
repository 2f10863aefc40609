"""Ed25519 identities: signing, verification, key files and ids."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flobc.crypto.keys import KeyPair, address_of, node_id_of, verify


def test_sign_and_verify() -> None:
    k = KeyPair.from_seed(b"\x01" * 32)
    sig = k.sign(b"message")
    assert verify(k.public_key, b"message", sig)
    assert not verify(k.public_key, b"other message", sig)
    tampered = bytes([sig[0] ^ 1]) + sig[1:]
    assert not verify(k.public_key, b"message", tampered)
    other = KeyPair.from_seed(b"\x02" * 32)
    assert not verify(other.public_key, b"message", sig)


def test_malformed_keys_and_signatures_are_rejected_not_raised() -> None:
    k = KeyPair.from_seed(b"\x03" * 32)
    sig = k.sign(b"m")
    assert not verify(k.public_key[:31], b"m", sig)
    assert not verify(k.public_key, b"m", sig[:63])
    assert not verify(b"\x00" * 32, b"m", sig)  # a small-order point


def test_seed_round_trip_and_ids() -> None:
    k = KeyPair.generate()
    assert KeyPair.from_seed(k.seed()).public_key == k.public_key
    assert len(k.address) == 20 and k.address == address_of(k.public_key)
    assert k.node_id == node_id_of(k.public_key) == k.address.hex()
    with pytest.raises(ValueError):
        KeyPair.from_seed(b"short")


def test_key_file_is_private(tmp_path: Path) -> None:
    k = KeyPair.generate()
    path = tmp_path / "keys" / "node_key.json"
    k.save(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert KeyPair.load(path).public_key == k.public_key
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="0600"):
        KeyPair.load(path)


def test_key_file_with_a_wrong_public_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    KeyPair.generate().save(path)
    text = path.read_text()
    doc_pk = KeyPair.generate().public_key.hex()
    import json

    doc = json.loads(text)
    doc["public_key"] = doc_pk
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="does not match"):
        KeyPair.load(path)
