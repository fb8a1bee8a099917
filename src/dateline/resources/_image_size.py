"""An image's width and height, read from the first bytes of its base64 data.

Enough of PNG, GIF, WebP and JPEG (the API's four media types) to find the
dimensions without decoding the picture: most of them say it in a fixed
header; a JPEG says it in its first SOF segment, after any metadata.
"""

from __future__ import annotations

import binascii

#: Base64 characters decoded first: every header but a JPEG's with large metadata is in them.
_PREFIX = 64 * 1024


def dimensions(data: str) -> tuple[int, int] | None:
    """``(width, height)`` of base64 image ``data``; None when it is not an image we can read."""
    found = _read(_decode(data[:_PREFIX]))
    if found is None and len(data) > _PREFIX:
        found = _read(_decode(data))
    return found


def _decode(text: str) -> bytes:
    try:
        return binascii.a2b_base64(text[: len(text) - len(text) % 4])
    except (binascii.Error, ValueError):
        return b""


def _read(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(head)
    if head[:2] == b"\xff\xd8":
        return _jpeg(head)
    return None


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30:
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


# Start-of-frame markers: every one but DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg(head: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _SOF:
            return int.from_bytes(head[at + 7 : at + 9], "big"), int.from_bytes(head[at + 5 : at + 7], "big")
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7:  # segments with no length
            at += 2
            continue
        at += 2 + int.from_bytes(head[at + 2 : at + 4], "big")
    return None
