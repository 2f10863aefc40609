"""Identities, signatures and Merkle trees."""

from flobc.crypto.keys import KeyPair, address_of, node_id_of, verify
from flobc.crypto.merkle import merkle_root

__all__ = ["KeyPair", "address_of", "merkle_root", "node_id_of", "verify"]
