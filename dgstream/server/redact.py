"""Keeping API keys out of the server's records (issue 11 §4). No I/O.

The logbook and `--log` file keep what a connection sent, so every string they take
from a request goes through here first:

* a configured key is replaced by REDACTED wherever it appears, as sent or
  percent-encoded (`Secrets.scrub`);
* headers that carry credentials keep only their shape: `Authorization` and
  `Proxy-Authorization` their scheme, `Cookie` its names, `X-Api-Key` and the like
  nothing; `Sec-WebSocket-Protocol` keeps the names up to `token`/`bearer` and
  hides what follows, across repeated headers (PROTOCOL §1);
* query parameters named like a credential (`token=`, `api_key=`, ...) lose their
  value; other values are decoded, scrubbed and re-encoded only when they held a key;
* values decoded from the query (`LiveOptions`, the unknown parameters) are scrubbed
  field by field.

Without configured keys a server still hides credential-shaped headers and
parameters: a client may send its real Deepgram key to a server that ignores it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, quote_plus, unquote_plus

if TYPE_CHECKING:
    from ..options import FluxOptions, LiveOptions

    Options = TypeVar("Options", bound="LiveOptions | FluxOptions")

__all__ = ["REDACTED", "Secrets", "redact_headers"]

REDACTED = "REDACTED"

#: Headers whose value is a credential after an optional scheme word.
_SCHEME_HEADERS = frozenset({"authorization", "proxy-authorization"})
#: Headers whose whole value is (or may hold) a credential.
_OPAQUE_HEADERS = frozenset(
    {
        "x-api-key",
        "api-key",
        "apikey",
        "x-auth-token",
        "x-access-token",
        "x-token",
        "x-deepgram-api-key",
    }
)
#: Query parameters that are credentials by name (Deepgram's `keywords`/`keyterm` are not).
_SECRET_PARAMS = frozenset(
    {"token", "access_token", "api_key", "apikey", "api-key", "key", "auth", "password", "secret"}
)

T = TypeVar("T")


class Secrets:
    """The configured keys, and the scrubbing of any string or value that may hold one."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for key in keys:
            if key:
                forms.update((key, quote(key, safe=""), quote_plus(key, safe="")))
        # Longest first, so a key inside a longer encoded form is not half-replaced.
        self._forms = sorted(forms, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def scrub(self, text: str) -> str:
        """`text` with every configured key (as sent or percent-encoded) replaced."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def scrub_value(self, value: T) -> T:
        """A decoded value (str, list, tuple, dict of them) with keys scrubbed."""
        return _scrub_any(value, self) if self else value

    def query(self, query: str) -> str:
        """A raw query string with credential values and configured keys redacted."""
        if not query:
            return query
        pairs = []
        for pair in query.split("&"):
            name, eq, value = pair.partition("=")
            plain_name = unquote_plus(name)
            if plain_name.lower() in _SECRET_PARAMS and value:
                value = REDACTED
            elif self:
                plain = unquote_plus(value)
                scrubbed = self.scrub(plain)
                if scrubbed != plain or self.scrub(value) != value:
                    value = quote(scrubbed, safe=":,/")
            if self and self.scrub(plain_name) != plain_name:
                name = quote(self.scrub(plain_name), safe="")
            pairs.append(f"{name}{eq}{value}")
        return "&".join(pairs)

    def unknown(self, unknown: dict[str, list[str]]) -> dict[str, list[str]]:
        """The unknown query parameters, decoded, with credential values redacted."""
        out: dict[str, list[str]] = {}
        for name, values in unknown.items():
            hide = name.lower() in _SECRET_PARAMS
            out[self.scrub(name)] = [REDACTED if hide else self.scrub(v) for v in values]
        return out

    def options(self, options: Options) -> Options:
        """LiveOptions with any field that held a key scrubbed (the session keeps the real ones)."""
        if not self:
            return options
        changes = {}
        for f in dataclasses.fields(options):
            value = getattr(options, f.name)
            scrubbed = _scrub_any(value, self)
            if scrubbed != value:
                changes[f.name] = scrubbed
        return dataclasses.replace(options, **changes) if changes else options


def _scrub_any(value: Any, secrets: Secrets) -> Any:
    if isinstance(value, str):
        return secrets.scrub(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub_any(v, secrets) for v in value)
    if isinstance(value, dict):
        return {_scrub_any(k, secrets): _scrub_any(v, secrets) for k, v in value.items()}
    return value


def _cookie(value: str) -> str:
    """`a=1; b=2` -> `a=REDACTED; b=REDACTED`: the names say what was sent, not the values."""
    names = [part.split("=", 1)[0].strip() for part in value.split(";") if part.strip()]
    return "; ".join(f"{n}={REDACTED}" for n in names)


def redact_headers(
    headers: Iterable[tuple[str, str]], keys: Iterable[str] | Secrets = ()
) -> dict[str, str]:
    """Request headers as a dict (repeated ones joined with ", "), credentials redacted."""
    secrets = keys if isinstance(keys, Secrets) else Secrets(keys)
    out: dict[str, str] = {}
    hide_protocols = False  # PROTOCOL §1: after `token`/`bearer` comes the key, in any header
    for name, value in headers:
        low = name.lower()
        if low in _SCHEME_HEADERS:
            scheme, _, rest = value.strip().partition(" ")
            value = f"{scheme} {REDACTED}" if rest else REDACTED
        elif low in _OPAQUE_HEADERS:
            value = REDACTED
        elif low == "cookie":
            value = _cookie(value)
        elif low == "sec-websocket-protocol":
            kept: list[str] = []
            for item in (p.strip() for p in value.split(",")):
                kept.append(REDACTED if hide_protocols else item)
                hide_protocols = hide_protocols or item.lower() in ("token", "bearer")
            value = ", ".join(kept)
        value = secrets.scrub(value)
        name = secrets.scrub(name)
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out
