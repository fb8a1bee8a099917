"""What the client sees of the limits: the ``anthropic-ratelimit-*`` headers, and the
429s (a rate limit, a used-up unified window, the spend limit) in the API's words."""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from .. import errors
from ._model import INPUT, KEY, OUTPUT, REQUESTS, Shortfall, Snapshot, WindowUse

PREFIX = "anthropic-ratelimit-"
_HEADER_KINDS = ((REQUESTS, "requests"), (INPUT, "input-tokens"), (OUTPUT, "output-tokens"))
_UNITS = {REQUESTS: "requests", INPUT: "input tokens", OUTPUT: "output tokens"}
_CLAIM_ABBREVIATIONS = {"five_hour": "5h", "seven_day": "7d"}

#: Utilization from which a unified window warns (``allowed_warning``), as observed.
WARNING_THRESHOLD = 0.75

RATE_LIMITS_DOCS = "https://docs.claude.com/en/api/rate-limits"
CONTACT_SALES = "https://claude.com/contact-sales"
#: The API's text on a 429 of subscription (unified) traffic.
UNIFIED_REJECTED = "This request would exceed your account's rate limit. Please try again later."


def rfc3339(epoch: float) -> str:
    """``2025-08-21T12:40:59Z``: whole seconds, rounded up (never before the moment meant)."""
    second = math.ceil(epoch)
    text = _STAMPS.get(second)
    if text is None:
        if len(_STAMPS) >= 4096:
            _STAMPS.clear()
        text = _STAMPS[second] = datetime.datetime.fromtimestamp(second, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


# Every limited answer shows a few reset times, mostly the same seconds: formatted once each.
_STAMPS: dict[int, str] = {}


def nearest_thousand(tokens: int) -> int:
    return (tokens + 500) // 1000 * 1000


def _names(name: str) -> tuple[str, str, str]:
    return f"{PREFIX}{name}-limit", f"{PREFIX}{name}-remaining", f"{PREFIX}{name}-reset"


_HEADER_NAMES = tuple((kind, _names(name)) for kind, name in _HEADER_KINDS)
_TOKENS = _names("tokens")


def rate_limit_headers(snapshot: Snapshot) -> dict[str, str]:
    """``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``.

    Of a key's and its workspace's buckets of one kind, the most restrictive (least
    remaining; at a tie, the one full again last) is shown; ``tokens-*`` is input and
    output together, of the owner with the least remaining. Token remainders are rounded
    to the nearest thousand. (One pass: every limited answer carries these.)
    """
    now = snapshot.now
    tightest: dict[str, tuple[int, float, int]] = {}  # kind -> (remaining, full at, limit)
    owners: dict[str, list[Any]] = {}  # owner -> [limits, remainders, full at]: input and output together
    for level in snapshot.levels:
        bucket, value = level
        limit, kind = bucket.limit, bucket.kind
        remaining = int(value) if value > 0 else 0  # whole tokens left (int() floors what is above 0)
        full = now + (limit - value) / bucket.rate if value < limit else now
        held = tightest.get(kind)
        if held is None or remaining < held[0] or (remaining == held[0] and full > held[1]):
            tightest[kind] = (remaining, full, limit)
        if kind != REQUESTS:
            total = owners.get(bucket.owner)
            if total is None:
                owners[bucket.owner] = [limit, remaining, full]
            else:
                total[0] += limit
                total[1] += remaining
                total[2] = max(total[2], full)
    headers: dict[str, str] = {}
    for kind, names in _HEADER_NAMES:
        held = tightest.get(kind)
        if held is not None:
            remaining, full, limit = held
            _put(headers, names, limit, remaining if kind is REQUESTS else nearest_thousand(remaining), full)
    if owners:
        limit, remaining, full = min(owners.values(), key=lambda total: (total[1], -total[2]))
        _put(headers, _TOKENS, limit, nearest_thousand(remaining), full)
    return headers


def _put(headers: dict[str, str], names: tuple[str, str, str], limit: int, remaining: int, reset: float) -> None:
    headers[names[0]] = str(limit)
    headers[names[1]] = str(remaining)
    headers[names[2]] = rfc3339(reset)


def window_status(use: WindowUse) -> str:
    if use.exhausted:
        return "rejected"
    return "allowed_warning" if use.utilization >= WARNING_THRESHOLD else "allowed"


def representative(windows: Sequence[WindowUse]) -> WindowUse:
    """The window that binds: a used-up one (the one that resets last), else the fullest."""
    exhausted = [use for use in windows if use.exhausted]
    if exhausted:
        return max(exhausted, key=lambda use: use.resets_at)
    return max(windows, key=lambda use: use.utilization)


def unified_headers(windows: Sequence[WindowUse]) -> dict[str, str]:
    """``anthropic-ratelimit-unified-*``: the overall status, reset and representative
    claim, then per window its status, reset (epoch seconds), utilization (a fraction,
    above 1 when overdrawn) and the threshold it has passed."""
    if not windows:
        return {}
    statuses = [window_status(use) for use in windows]
    overall = next(status for status in ("rejected", "allowed_warning", "allowed") if status in statuses)
    binding = representative(windows)
    headers = {
        f"{PREFIX}unified-status": overall,
        f"{PREFIX}unified-reset": str(math.ceil(binding.resets_at)),
        f"{PREFIX}unified-representative-claim": binding.window.claim,
    }
    for use, status in zip(windows, statuses, strict=True):
        name = f"{PREFIX}unified-{_CLAIM_ABBREVIATIONS[use.window.claim]}"
        headers[f"{name}-status"] = status
        headers[f"{name}-reset"] = str(math.ceil(use.resets_at))
        headers[f"{name}-utilization"] = str(round(use.utilization, 2))
        if status != "allowed":
            headers[f"{name}-surpassed-threshold"] = "1.0" if use.exhausted else str(WARNING_THRESHOLD)
    return headers


def headers(snapshot: Snapshot) -> dict[str, str]:
    """Every rate-limit header a response carries for this snapshot."""
    out = rate_limit_headers(snapshot)
    if snapshot.windows:
        out.update(unified_headers(snapshot.windows))
    return out


def refusal_message(shortfall: Shortfall, *, org: str | None = None, model: str | None = None) -> str:
    """The API's 429 text naming the limit. A workspace's limit: Dateline's wording."""
    bucket = shortfall.level.bucket
    if bucket.owner == KEY:
        whose, ids = "your organization's", [f"org: {org}"] if org else []
    else:
        whose, ids = "your workspace's", [f"workspace: {bucket.owner_id}"]
    if model:
        ids.append(f"model: {model}")
    said = f" ({', '.join(ids)})" if ids else ""
    return (
        f"This request would exceed {whose} rate limit of {bucket.limit:,} {_UNITS[bucket.kind]} per minute{said}. "
        f"For details, refer to: {RATE_LIMITS_DOCS}. You can see the response headers for current usage. "
        "Please reduce the prompt length or the maximum tokens requested, or try again later. "
        f"You may also contact sales at {CONTACT_SALES} to discuss your options for a rate limit increase."
    )


class Admission(NamedTuple):
    """A limiter's answer before a request runs: let in (and charged), or refused
    (nothing taken) with what fell short."""

    snapshot: Snapshot
    shortfalls: tuple[Shortfall, ...] = ()
    rejected: tuple[WindowUse, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.shortfalls and not self.rejected

    @property
    def binding(self) -> Shortfall | None:
        """The shortfall that takes longest to clear: the limit a refusal names."""
        return max(self.shortfalls, key=lambda shortfall: shortfall.wait, default=None)

    @property
    def retry_after(self) -> int | None:
        """Whole seconds until a retry can pass (at least 1); ``None`` when let in."""
        if self.rejected:
            return max(1, math.ceil(representative(self.rejected).resets_at - self.snapshot.now))
        binding = self.binding
        return None if binding is None else max(1, math.ceil(binding.wait))

    def headers(self) -> dict[str, str]:
        out = headers(self.snapshot)
        if self.shortfalls or self.rejected:
            out["retry-after"] = str(self.retry_after)
        if self.rejected:
            out["x-should-retry"] = "true"
        return out

    def error(self, *, org: str | None = None, model: str | None = None) -> errors.RateLimitError:
        """The 429 for a refusal, its headers included."""
        binding = self.binding
        if self.rejected or binding is None:
            message = UNIFIED_REJECTED
        else:
            message = refusal_message(binding, org=org, model=model)
        return errors.RateLimitError(message, headers=self.headers())


class SpendLimitError(errors.RateLimitError):
    """429 ``rate_limit_error`` with ``error.details.error_code``; no ``retry-after``
    (retrying fails until the next month)."""

    error_code = "enforced_spend_limit_reached"

    def to_dict(self, request_id: str | None) -> dict[str, Any]:
        body = super().to_dict(request_id)
        body["error"]["details"] = {"error_code": self.error_code}
        return body


def next_month(now: float) -> datetime.datetime:
    """00:00 UTC on the first day of the month after ``now``'s: when a monthly limit lifts."""
    day = datetime.datetime.fromtimestamp(now, datetime.UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return datetime.datetime(year, month, 1, tzinfo=datetime.UTC)


def spend_limit_error(now: float) -> SpendLimitError:
    """The key's monthly spend limit is reached. The API's text, the key in place of the
    organization's tier threshold (that clause is Dateline's wording)."""
    lifts = next_month(now)
    return SpendLimitError(
        "You have reached your API usage limits: this API key has crossed its monthly spend limit. "
        f"You will regain access on {lifts:%Y-%m-%d} at 00:00 UTC."
    )
