"""What counts as a credential, wherever something is kept or shown: the
request log, cassettes, an upstream's error.

A header or query parameter holds one when its name is a known credential
header or says so in one of its parts (``x-auth-token``, ``x-goog-api-key``,
``anthropic-ratelimit-tokens-remaining`` is not one: ``tokens`` is no such part).
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
#: Named outright: a part of the name alone would not say so (``proxy-authorization`` would).
CREDENTIAL_HEADERS = frozenset(
    {"x-api-key", "authorization", "proxy-authorization", "cookie", "set-cookie", "x-dateline-admin-token", "api-key"}
)
_WORDS = frozenset(
    {"auth", "authorization", "key", "apikey", "token", "secret", "password", "cookie", "credential", "credentials",
     "session", "signature", "sig"}
)  # fmt: skip
_PARTS = re.compile(r"[-_.]")


def is_credential(name: str) -> bool:
    """Whether a header or query parameter of this name holds a credential."""
    name = name.lower()
    return name in CREDENTIAL_HEADERS or not _WORDS.isdisjoint(_PARTS.split(name))
