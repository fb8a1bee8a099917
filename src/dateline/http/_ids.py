"""Identifiers in the API's own style: a prefix, ``011C``, 20 base62 characters."""

from __future__ import annotations

import os

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str) -> str:
    n = int.from_bytes(os.urandom(15), "big")
    chars = []
    for _ in range(20):
        n, r = divmod(n, 62)
        chars.append(_ALPHABET[r])
    return f"{prefix}_011C{''.join(chars)}"


def request_id() -> str:
    return new_id("req")
