"""The ``anthropic-beta`` request header: known values, parsing, and the
error the API gives for values it does not recognise."""

from __future__ import annotations

from collections.abc import Iterable

# Absolute: scripts/check_betas.py loads this file on its own, outside the package.
from dateline import errors

__all__ = ["KNOWN_BETAS", "MAX_BETAS", "OTHER_BETAS", "SDK_BETAS", "beta_error_message", "parse_betas", "unknown_betas"]

# Every value of the SDK's ``AnthropicBetaParam`` in anthropic 2.17.0 (older
# releases list no value it lacks). `python scripts/check_betas.py` compares
# it with the installed SDK's.
SDK_BETAS: frozenset[str] = frozenset("""
    message-batches-2024-09-24 prompt-caching-2024-07-31 pdfs-2024-09-25
    token-counting-2024-11-01 computer-use-2024-10-22 computer-use-2025-01-24
    computer-use-2025-11-24 token-efficient-tools-2025-02-19 output-128k-2025-02-19
    files-api-2025-04-14 extended-cache-ttl-2025-04-11 mcp-client-2025-04-04
    mcp-client-2025-11-20 mcp-client-2026-09-15 dev-full-thinking-2025-05-14
    interleaved-thinking-2025-05-14 code-execution-2025-05-22 context-1m-2025-08-07
    context-management-2025-06-27 model-context-window-exceeded-2025-08-26
    skills-2025-10-02 structured-outputs-2025-11-13 compact-2026-01-12
    compact-2026-09-04 fast-mode-2026-02-01 advisor-tool-2026-03-01
    task-budgets-2026-03-13 output-300k-2026-03-24 user-profiles-2026-03-24
    user-profiles-2026-08-18 user-profiles-2026-09-04 user-profiles-billing-2026-10-01
    managed-agents-2026-04-01 cache-diagnosis-2026-04-07 dreaming-2026-04-21
    thinking-token-count-2026-05-13 server-side-fallback-2026-06-01
    server-side-fallback-2026-07-01 fallback-credit-2026-06-01 fallback-credit-2026-07-01
    mcp-tunnels-2026-06-22 mid-conversation-tool-changes-2026-07-01
    mid-conversation-output-config-2026-07-01 mid-conversation-system-clear-at-2026-08-21
    ce-user-management-2026-07-13 agent-memory-2026-07-22 thinking-binding-controls-2026-08-01
    telemetry-destinations-2026-08-11 message-threads-2026-08-12
    thinking-display-updates-2026-08-18 analytics-usage-cost-2026-08-24
    ce-plugins-2026-09-01 google-managed-data-controls-2026-09-01 inline-tools-2026-09-15
    spend-limit-reads-2026-09-26 efs-2026-10-01 ce-claude-code-managed-settings-2026-10-06
    webhooks-2026-10-07 admin-user-sign-out-2026-10-08 experimental-claude-tag-2026-10-21
""".split())

# Sent by older SDK releases outside that list (beta resources, helpers,
# credential flows) and by Claude Code, plus other betas the API has served.
OTHER_BETAS: frozenset[str] = frozenset("""
    messages-2023-12-15 tools-2024-04-04 tools-2024-05-16
    max-tokens-3-5-sonnet-2024-07-15 web-search-2025-03-05
    fine-grained-tool-streaming-2025-05-14 oauth-2025-04-20 search-results-2025-06-09
    code-execution-2025-08-25 web-fetch-2025-09-10 tool-search-tool-2025-10-19
    tool-examples-2025-10-29 advanced-tool-use-2025-11-20 effort-2025-11-24
    structured-outputs-2025-12-15 prompt-caching-scope-2026-01-05 afk-mode-2026-01-31
    redact-thinking-2026-02-12 token-efficient-tools-2026-03-28 oidc-federation-2026-04-01
    mid-conversation-system-2026-04-07 per-turn-control-2026-07-01
    claude-code-20250219
""".split())

KNOWN_BETAS: frozenset[str] = SDK_BETAS | OTHER_BETAS


#: More values than any client sends (Claude Code sends about twenty): beyond
#: this a header is refused whole, before any value is looked at.
MAX_BETAS = 128
#: The error message names this many unknown values, each cut to _NAMED_CHARS.
_NAMED, _NAMED_CHARS = 16, 128


def parse_betas(header_values: Iterable[str]) -> list[str]:
    """Every value named by one or more ``anthropic-beta`` headers.

    Each header holds a comma-separated list; whitespace around items is
    dropped.  Empty items (``"a,,b"``, a trailing comma, a blank header) are
    kept as ``""`` so that they are reported as invalid.  More than
    ``MAX_BETAS`` values in all is an ``invalid_request_error``.
    """
    values = [item.strip() for value in header_values for item in value.split(",")]
    if len(values) > MAX_BETAS:
        raise errors.InvalidRequestError(f"anthropic-beta: at most {MAX_BETAS} values may be given, not {len(values)}")
    return values


def unknown_betas(betas: Iterable[str], known: frozenset[str] | set[str] = KNOWN_BETAS) -> list[str]:
    """The values not in ``known``, in order of first appearance, without repeats."""
    bad: dict[str, None] = {}  # ordered, and a repeat costs one lookup
    for beta in betas:
        if not beta or beta not in known:
            bad[beta] = None
    return list(bad)


def beta_error_message(bad: Iterable[str]) -> str:
    """The ``invalid_request_error`` message for unrecognised beta values.

    Each value is quoted in backticks and the quoted values are joined with
    ``", "``, as the API does: ``Unexpected value(s) `a`, `b` for the ...``.
    Only the first few values are named (each cut short if long), then how
    many more there were, so the message stays small whatever was sent.
    """
    bad = list(bad)
    named = [value if len(value) <= _NAMED_CHARS else value[:_NAMED_CHARS] + "…" for value in bad[:_NAMED]]
    values = ", ".join(f"`{value}`" for value in named)
    if len(bad) > _NAMED:
        values += f" and {len(bad) - _NAMED} more"
    return (
        f"Unexpected value(s) {values} for the `anthropic-beta` header. "
        "Please consult our documentation at docs.anthropic.com or try again without the header."
    )
