"""Signatures on thinking blocks.

A thinking block the server returned must come back unchanged; the signature
is an HMAC over the thinking text, so any edit to either is detected. With
``display: "omitted"`` the client never sees the text, so that signature
vouches for an empty ``thinking`` instead.

The key is configured, or made at random on first start and kept in the
database (see ``app``): a signer may be built before it has one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

_SHOWN, _OMITTED = b"s", b"o"


class Signer:
    def __init__(self, key: str | None = None) -> None:
        self._key = key.encode() if key is not None else None

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def use_key(self, key: str) -> None:
        self._key = key.encode()

    def derive(self, purpose: bytes) -> bytes:
        """A key of its own for ``purpose`` (e.g. ``b"web"``), made from the signing key: what it
        seals and what this signer signs never vouch for each other."""
        return hmac.new(self._key_or_raise(), b"dateline derive:" + purpose, hashlib.sha256).digest()

    def _key_or_raise(self) -> bytes:
        if self._key is None:
            raise RuntimeError("the thinking-signature key is not known yet (the store gives it at start-up)")
        return self._key

    def _mac(self, head: bytes) -> bytes:
        return hmac.new(self._key_or_raise(), head, hashlib.sha256).digest()

    def sign(self, thinking: str, *, omitted: bool = False) -> str:
        digest = hashlib.sha256(thinking.encode()).digest()[:16]
        head = (_OMITTED if omitted else _SHOWN) + digest
        return base64.b64encode(b"\x01" + head + self._mac(head)).decode()

    def verify(self, thinking: str, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        if len(raw) != 1 + 17 + 32 or raw[0] != 1:
            return False
        head, mac = raw[1:18], raw[18:]
        if not hmac.compare_digest(mac, self._mac(head)):
            return False
        if head[:1] == _OMITTED:
            return thinking == ""
        return head[1:] == hashlib.sha256(thinking.encode()).digest()[:16]
