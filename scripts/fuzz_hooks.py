"""Schemathesis hooks for FLoBC (``SCHEMATHESIS_HOOKS=fuzz_hooks``): MessagePack bodies.

The submission endpoints take MessagePack; generated JSON-like values are sent as
MessagePack with text as ``bin`` (what the node decodes), integers MessagePack cannot
hold as their decimal text.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from flobc.encoding import encode


def as_wire(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return str(value).encode()
    if isinstance(value, list):
        return [as_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: as_wire(v) for k, v in value.items()}
    return value


@schemathesis.serializer("application/msgpack")
def msgpack(ctx: Any, value: Any) -> bytes:
    return encode(as_wire(value))
