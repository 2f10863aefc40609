"""Resolve user plug-ins given as ``"package.module:function"`` strings."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any


def is_callable_ref(ref: str) -> bool:
    """Whether ``ref`` looks like a ``module:attribute`` reference."""
    mod, sep, attr = ref.partition(":")
    return bool(sep and mod and attr)


def resolve_callable(ref: str) -> Callable[..., Any]:
    """Import ``"pkg.mod:func"`` (attribute paths like ``"pkg.mod:Class.method"`` work too)."""
    if not is_callable_ref(ref):
        raise ValueError(f"expected 'package.module:function', got {ref!r}")
    mod_name, _, attr_path = ref.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {mod_name!r} for {ref!r}: {exc}") from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(
                f"{ref!r}: module {mod_name!r} has no attribute {attr_path!r}"
            ) from None
    if not callable(obj):
        raise ValueError(f"{ref!r} resolves to a non-callable {type(obj).__name__}")
    return obj


def check_call(func: Callable[..., Any], ref: str, expected: str, **kwargs: Any) -> None:
    """Raise a one-line ``ValueError`` naming ``expected`` if ``func(**kwargs)`` cannot bind.

    A plug-in with the wrong parameters would otherwise fail deep inside a node with a bare
    ``TypeError``; this says which signature FLoBC calls it with.
    """
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # some builtins and C callables have no signature
        return
    try:
        sig.bind(**kwargs)
    except TypeError as exc:
        raise ValueError(
            f"plug-in {ref!r} has signature {func.__name__}{sig}, but FLoBC calls it as "
            f"{expected} ({exc})"
        ) from None
