"""Identifiers in the API's own style: a prefix, ``011C``, 20 base62 characters."""

from __future__ import annotations

import os

_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Random bytes map straight onto the alphabet; this runs twice per request,
# so it must cost a microsecond, not a big-integer loop.
_TO_BASE62 = bytes(_ALPHABET[b % 62] for b in range(256))


def new_id(prefix: str) -> str:
    return f"{prefix}_011C{os.urandom(20).translate(_TO_BASE62).decode()}"


def request_id() -> str:
    return new_id("req")
