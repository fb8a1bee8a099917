"""``encrypted_content`` and ``encrypted_index``: opaque, deterministic tokens sealed with the server's key.

A later turn passes them back unchanged; whoever holds the key reads them
again (``open_content``, ``open_index``), and an edited token opens to None.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import zlib
from typing import Any

import orjson

from ..web_corpus import Found

_VERSION = b"\x01"
_TAG = 16
_MAX_PLAIN = 16 * 1024 * 1024


def _subkey(key: str | bytes) -> bytes:
    # Not the thinking signatures' key itself: a token and a signature never vouch for each other.
    return hmac.new(key.encode() if isinstance(key, str) else key, b"dateline web tokens", hashlib.sha256).digest()


def seal(key: str | bytes, kind: str, payload: Any) -> str:
    """``payload`` as an opaque base64 token: the same input gives the same token, and only
    ``key`` opens it (a keyed stream over the compressed JSON, its HMAC as nonce and tag)."""
    subkey = _subkey(key)
    plain = kind.encode() + b":" + zlib.compress(orjson.dumps(payload), 6)
    tag = hmac.new(subkey, plain, hashlib.sha256).digest()[:_TAG]
    stream = hashlib.shake_256(subkey + tag).digest(len(plain))
    sealed = (int.from_bytes(plain, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(plain), "big")
    return base64.b64encode(_VERSION + tag + sealed).decode()


def unseal(key: str | bytes, kind: str, token: str) -> Any:
    """What ``seal(key, kind, …)`` sealed in ``token``, or None if the token is not one (or was edited)."""
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) <= 1 + _TAG or raw[:1] != _VERSION:
        return None
    subkey = _subkey(key)
    tag, sealed = raw[1 : 1 + _TAG], raw[1 + _TAG :]
    stream = hashlib.shake_256(subkey + tag).digest(len(sealed))
    plain = (int.from_bytes(sealed, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(sealed), "big")
    if not hmac.compare_digest(tag, hmac.new(subkey, plain, hashlib.sha256).digest()[:_TAG]):
        return None
    head, _, body = plain.partition(b":")
    if head != kind.encode():
        return None
    try:  # only the key's holder makes a token that gets this far; still, nothing here may raise
        inflate = zlib.decompressobj()
        data = inflate.decompress(body, _MAX_PLAIN)
        return orjson.loads(data) if not inflate.unconsumed_tail else None
    except (zlib.error, orjson.JSONDecodeError):
        return None


def open_content(key: str | bytes, token: str) -> Found | None:
    """The page a search result's ``encrypted_content`` carries."""
    payload = unseal(key, "content", token)
    return Found(*payload) if isinstance(payload, list) and len(payload) == 4 else None


def open_index(key: str | bytes, token: str) -> tuple[str, int, int] | None:
    """A citation's ``encrypted_index``: the cited page's URL and the span of its text cited."""
    payload = unseal(key, "index", token)
    return tuple(payload) if isinstance(payload, list) and len(payload) == 3 else None  # type: ignore[return-value]
