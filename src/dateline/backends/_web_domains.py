"""The domain lists of the web tools, and the checks the API makes of those tools' definitions.

An entry is a plain hostname, optionally with a path: ``example.com`` covers
the host and its subdomains, ``docs.example.com`` only itself and below.
For web search a path is a prefix (``example.com/blog``) and may hold one
``*`` (``example.com/*/articles``); web fetch matches the host only.

A malformed entry, an empty list, or both lists at once is a 400 naming the
entry (the API's texts where known: the empty list, both lists, IP
addresses; Dateline's wording for the other rules, in the same style).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from .. import errors

WEB_SEARCH_TYPES = frozenset({"web_search_20250305", "web_search_20260209", "web_search_20260318"})
WEB_FETCH_TYPES = frozenset({"web_fetch_20250910", "web_fetch_20260209", "web_fetch_20260309", "web_fetch_20260318"})

_PLAIN = 'provide a plain hostname like "example.com"'
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".invalid")
#: Registry suffixes of two labels, refused like a bare top-level domain (a
#: short list of the common ones, not the whole public-suffix list).
_SUFFIXES = frozenset(
    "co.uk org.uk gov.uk ac.uk me.uk net.uk com.au net.au org.au gov.au edu.au co.nz org.nz govt.nz "
    "co.jp ne.jp or.jp go.jp ac.jp com.br gov.br org.br co.in gov.in org.in com.cn gov.cn org.cn "
    "co.za gov.za org.za com.mx gob.mx co.kr go.kr com.sg gov.sg com.tr com.tw com.hk".split()
)
_HOST_CHARS = re.compile(r"[a-z0-9._-]+")
_NUMERIC_LABEL = re.compile(r"\d+|0x[0-9a-f]*")
_PATH_FORBIDDEN = frozenset(" ?#$,|^!")
#: ISO 3166-1 alpha-2: the countries a ``user_location`` may name.
_COUNTRIES = frozenset(
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW "
    "BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI "
    "FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN "
    "IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME "
    "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF "
    "PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE "
    "YT ZA ZM ZW".split()
)


@dataclass(frozen=True)
class Domain:
    """One entry of a domain list: its host (lower case) and path prefix ("" for none)."""

    host: str
    path: str = ""

    def covers_host(self, host: str) -> bool:
        return host == self.host or host.endswith("." + self.host)

    @property
    def path_pattern(self) -> re.Pattern[str]:
        return _path_pattern(self.path)


@cache
def _path_pattern(path: str) -> re.Pattern[str]:
    # At most one ``*``, so the match is one linear scan.
    return re.compile(".*".join(re.escape(part) for part in path.split("*")))


def parse_domain(entry: str) -> Domain:
    """``entry`` as a ``Domain``, or ``ValueError`` saying which rule it breaks."""
    if not 1 <= len(entry) <= 255:
        raise ValueError("a domain is 1 to 255 characters")
    if any(c.isspace() for c in entry):
        raise ValueError(f"whitespace is not allowed; {_PLAIN}")
    if not entry.isascii():
        raise ValueError("use the xn-- (Punycode) form for an internationalized domain name")
    if "://" in entry:
        raise ValueError(f"do not include a scheme; {_PLAIN}")
    host, slash, path = entry.partition("/")
    path = slash + path if path else ""  # a single trailing "/" is ignored
    if "@" in host:
        raise ValueError(f"credentials are not allowed; {_PLAIN}")
    if "*" in host:
        raise ValueError('a wildcard (*) may appear only in the path, as in "example.com/*"')
    if host.startswith("[") or host.count(":") > 1:
        raise ValueError(f"IP addresses are not supported; {_PLAIN}")
    if ":" in host:
        raise ValueError(f"a port is not allowed; {_PLAIN}")
    host = host.lower()
    if not _HOST_CHARS.fullmatch(host):
        raise ValueError(f"a hostname has only ASCII letters, digits, hyphens, underscores and dots; {_PLAIN}")
    labels = host.split(".")
    if all(_NUMERIC_LABEL.fullmatch(label) for label in labels if label):
        raise ValueError(f"IP addresses are not supported; {_PLAIN}")
    if "" in labels:
        raise ValueError(f"a hostname has no empty labels; {_PLAIN}")
    for label in labels:
        if label.startswith("-") or label.endswith("-"):
            raise ValueError(f"a label may not begin or end with a hyphen: {label!r}")
        if len(label) > 63:
            raise ValueError("a label is at most 63 characters")
    if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
        raise ValueError(f"local and reserved names are not allowed; {_PLAIN}")
    if len(labels) == 1:
        raise ValueError('a single label is not a registrable domain; list a full domain like "example.com"')
    if host in _SUFFIXES:
        raise ValueError('a registry suffix is not a registrable domain; list a full domain like "example.co.uk"')
    if path:
        if any(c in _PATH_FORBIDDEN for c in path):
            raise ValueError("a path may not contain spaces, ?, #, or any of $ , | ^ !")
        if path.count("*") > 1:
            raise ValueError("only one wildcard (*) is allowed per domain")
    return Domain(host, path)


@dataclass(frozen=True)
class DomainFilter:
    """Which URLs a tool may reach: ``allowed`` XOR ``blocked`` (None: not given)."""

    allowed: tuple[Domain, ...] | None = None
    blocked: tuple[Domain, ...] | None = None
    paths: bool = True  #: whether paths count (web search); web fetch matches hosts only

    @classmethod
    def of(cls, tool: dict[str, Any], *, paths: bool) -> DomainFilter:
        """The filter a tool definition gives (one ``check_tool`` has passed)."""

        def domains(name: str) -> tuple[Domain, ...] | None:
            entries = tool.get(name)
            return None if entries is None else tuple(parse_domain(e) for e in entries)

        return cls(domains("allowed_domains"), domains("blocked_domains"), paths)

    def admits(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".")
        except ValueError:
            return False
        if not host:
            return False
        if self.allowed is not None and not any(self._covers(d, host, parts.path) for d in self.allowed):
            return False
        if self.blocked is not None and any(self._covers(d, host, parts.path) for d in self.blocked):
            return False
        return True

    def _covers(self, domain: Domain, host: str, path: str) -> bool:
        if not domain.covers_host(host):
            return False
        return not (self.paths and domain.path) or domain.path_pattern.match(path or "/") is not None


def check_tool(tool: dict[str, Any], where: str, declared: Collection[str] = ()) -> None:
    """Refuse a web search or fetch tool the API would refuse: a 400 naming the field.

    ``where`` is the tool's location, e.g. ``tools.0.web_search_20250305``; ``declared``
    the names of the request's tools, which a fetch tool's ``url_sources`` may name.
    """
    allowed, blocked = tool.get("allowed_domains"), tool.get("blocked_domains")
    if allowed is not None and blocked is not None:
        raise errors.InvalidRequestError(f"{where}: Only one of allowed_domains or blocked_domains may be set.")
    for name, entries in (("allowed_domains", allowed), ("blocked_domains", blocked)):
        if entries is None:
            continue
        if not entries:
            raise errors.InvalidRequestError(
                f"{where}.{name}: Empty list of domains is ambiguous. Provide at least one domain or null."
            )
        seen: set[Domain] = set()
        for i, entry in enumerate(entries):
            try:
                domain = parse_domain(entry)
            except ValueError as exc:
                raise errors.InvalidRequestError(f"{where}.{name}.{i}: {exc}") from None
            if domain in seen:
                raise errors.InvalidRequestError(f"{where}.{name}.{i}: duplicate domain {entry!r}")
            seen.add(domain)
    for name in ("max_uses", "max_content_tokens"):
        value = tool.get(name)
        if value is not None and value <= 0:
            raise errors.InvalidRequestError(f"{where}.{name}: Input should be greater than 0")
    _check_location(tool.get("user_location"), f"{where}.user_location")
    for source in ("client_tool_results", "server_tool_results"):
        for i, named in enumerate(((tool.get("url_sources") or {}).get(source) or {}).get("tools") or ()):
            if named.get("name") not in declared:
                raise errors.InvalidRequestError(
                    f"{where}.url_sources.{source}.tools.{i}.name: "
                    f"no tool named {named.get('name')!r} is declared in `tools`"
                )


def _check_location(location: dict[str, Any] | None, where: str) -> None:
    if not location:
        return
    country = location.get("country")
    if country is not None and country.upper() not in _COUNTRIES:
        raise errors.InvalidRequestError(f"{where}.country: not a country the search provider supports")
    timezone = location.get("timezone")
    zones = _time_zones()
    # Without a time-zone database nothing can be checked, so nothing is refused.
    if timezone is not None and zones and timezone not in zones:
        raise errors.InvalidRequestError(f"{where}.timezone: not a valid IANA time zone name")


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
