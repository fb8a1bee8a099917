"""A limited key's ``anthropic-ratelimit-*`` headers under OpenAI's ``x-ratelimit-*`` names too.

OpenAI gives a reset as how long until it, in its duration style (``6m0s``, ``20ms``);
the API gives the moment (RFC 3339). Both sets are sent (Dateline's choice).
"""

from __future__ import annotations

import datetime
import time

_PREFIX = "anthropic-ratelimit-"
#: OpenAI's kind -> the API's header kinds it is read from, first found wins.
_KINDS = (("requests", ("requests",)), ("tokens", ("tokens", "input-tokens")))


def openai_limits(headers: dict[str, str], now: float | None = None) -> dict[str, str]:
    """The ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` of ``headers`` (none: empty)."""
    if not any(name.startswith(_PREFIX) for name in headers):
        return {}
    now = time.time() if now is None else now
    out = {}
    for kind, sources in _KINDS:
        for source in sources:
            limit = headers.get(f"{_PREFIX}{source}-limit")
            if limit is None:
                continue
            out[f"x-ratelimit-limit-{kind}"] = limit
            remaining = headers.get(f"{_PREFIX}{source}-remaining")
            if remaining is not None:
                out[f"x-ratelimit-remaining-{kind}"] = remaining
            reset = _until(headers.get(f"{_PREFIX}{source}-reset"), now)
            if reset is not None:
                out[f"x-ratelimit-reset-{kind}"] = reset
            break
    return out


def _until(stamp: str | None, now: float) -> str | None:
    if stamp is None:
        return None
    try:
        moment = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return duration(max(moment - now, 0.0))


def duration(seconds: float) -> str:
    """OpenAI's style: ``20ms`` under a second, else ``1h2m3s`` / ``6m0s`` / ``1s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
