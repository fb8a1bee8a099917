"""Regular expressions a user gives Dateline, compiled by RE2.

Rules, the web corpus and tool search run patterns their author wrote on RE2:
matching is linear in the text whatever the pattern (``^(a+)+$`` cannot
backtrack), at the price of backreferences and lookaround, which RE2 refuses
when the pattern is compiled. Its own error log is not wanted.
"""

from __future__ import annotations

from typing import Any

import re2

OPTIONS = re2.Options()
OPTIONS.log_errors = False


def regex(pattern: str) -> Any:
    """``pattern`` compiled by RE2, or ``ValueError`` saying why it cannot run."""
    try:
        return re2.compile(pattern, OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(
            f"invalid regular expression for the linear-time engine (RE2 syntax, no backreferences or "
            f"lookaround): {reason}"
        ) from None
