"""Paging of the list endpoints (models, message batches, files): the page a
request asks for, and the envelope a page goes out in.

Lists are newest first. ``after_id`` asks for the ``limit`` objects right
after that one (older), ``before_id`` for the ``limit`` right before it
(newer, still in list order); ``has_more`` says whether more lie that way,
and ``first_id`` / ``last_id`` name the page's ends for the next request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import errors

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000


@dataclass(frozen=True)
class PageQuery:
    """Which page: the cursors and the page size."""

    after_id: str | None = None
    before_id: str | None = None
    limit: int = DEFAULT_LIMIT
    #: The query parameter the cursors came in, when not their own (the Files API's opaque ``page``).
    via: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {self.limit!r}")

    @classmethod
    def of(cls, query: Mapping[str, str], *, default_limit: int = DEFAULT_LIMIT) -> PageQuery:
        """The page a list request's query string asks for (``limit`` checked as the API checks it)."""
        raw = query.get("limit")
        return cls(query.get("after_id"), query.get("before_id"), default_limit if raw is None else page_limit(raw))

    @property
    def towards_newer(self) -> bool:
        """Whether the page is taken from the ``before_id`` end (paging back)."""
        return self.before_id is not None

    def unknown(self, cursor_id: str, what: str) -> errors.InvalidRequestError:
        """The error for a cursor that names no listed ``what``: named by the parameter it came in."""
        cursor = self.via or ("after_id" if cursor_id == self.after_id else "before_id")
        return errors.InvalidRequestError(f"{cursor}: no {what} with id {cursor_id}")


def page_limit(raw: str) -> int:
    """A list request's ``limit``, as the API parses and bounds it."""
    try:
        # int() also takes non-ASCII digits ("５"); the API's integer parsing does not.
        if not raw.isascii():
            raise ValueError(raw)
        limit = int(raw)
    except ValueError:
        raise errors.InvalidRequestError("limit: Input should be a valid integer, unable to parse string as an integer") from None
    if limit < 1:
        raise errors.InvalidRequestError("limit: Input should be greater than or equal to 1")
    if limit > MAX_LIMIT:
        raise errors.InvalidRequestError(f"limit: Input should be less than or equal to {MAX_LIMIT}")
    return limit


def window(
    ordered: Sequence[T],
    query: PageQuery,
    id_of: Callable[[T], str],
    keep: Callable[[T], bool] | None = None,
) -> tuple[list[T], bool]:
    """One page of a list held in memory (in list order): of the items strictly
    between the cursors that ``keep`` keeps, ``limit`` from the end the page is
    taken from; and whether more lie beyond it. A cursor must be in ``ordered``:
    otherwise ``KeyError(cursor)``."""
    position = {id_of(item): index for index, item in enumerate(ordered)}
    for cursor in (query.after_id, query.before_id):
        if cursor is not None and cursor not in position:
            raise KeyError(cursor)
    low = position[query.after_id] + 1 if query.after_id is not None else 0
    high = position[query.before_id] if query.before_id is not None else len(ordered)
    between = [item for item in ordered[low:high] if keep is None or keep(item)]
    if query.towards_newer:
        start = max(len(between) - query.limit, 0)
        return between[start:], start > 0
    return between[: query.limit], len(between) > query.limit


def envelope(data: list[dict[str, Any]], has_more: bool, **extra: Any) -> dict[str, Any]:
    """A page as the API sends it; ``extra`` adds a resource's own keys (the Files API's ``next_page``)."""
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        **extra,
    }
