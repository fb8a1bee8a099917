"""Identifiers in the API's own style: a prefix, ``011C``, 20 base62 characters."""

from __future__ import annotations

import os
import random

_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Random bytes map straight onto the alphabet; this runs twice per request,
# so it must cost a microsecond, not a big-integer loop.
_TO_BASE62 = bytes(_ALPHABET[b % 62] for b in range(256))


def new_id(prefix: str, rng: random.Random | None = None) -> str:
    """A fresh id; with ``rng``, the id that generator gives (for reproducible replies)."""
    raw = rng.randbytes(20) if rng is not None else os.urandom(20)
    return f"{prefix}_011C{raw.translate(_TO_BASE62).decode()}"


def request_id() -> str:
    return new_id("req")
