"""The handshake's pieces (PROTOCOL §1): credentials, subprotocols, HTTP refusals.

No I/O here: `reject()` builds the refusal `Response`, `credential()` finds the key
a request carries, `key_matches()` checks it in constant time, `select_subprotocol()`
answers `token, KEY` offers.
"""

from __future__ import annotations

import email.utils
import hmac
import json
from collections.abc import Sequence
from http import HTTPStatus

from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.typing import Subprotocol

__all__ = ["AmbiguousCredentialError", "credential", "key_matches", "reject", "select_subprotocol"]

# PROTOCOL §1: realistic rejection bodies (err_code, err_msg) by status.
_REJECTIONS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "Bad Request: the request could not be processed."),
    401: ("INVALID_AUTH", "Invalid credentials."),
    402: (
        "ASR_PAYMENT_REQUIRED",
        "Project does not have enough credits for an ASR request and does not have an "
        "overage agreement.",
    ),
    403: (
        "INSUFFICIENT_PERMISSIONS",
        "This key does not have permission to use live transcription.",
    ),
    404: ("NOT_FOUND", "Not found."),
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please try again later."),
    500: ("INTERNAL_SERVER_ERROR", "The server encountered an internal error."),
    503: ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable. Please try again later."),
}


def header_text(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ").encode("ascii", "replace").decode("ascii")


def offered_subprotocols(headers: Headers) -> list[str]:
    return [
        p.strip()
        for h in headers.get_all("Sec-WebSocket-Protocol")
        for p in h.split(",")
        if p.strip()
    ]


class AmbiguousCredentialError(ValueError):
    """The request carries more than one Authorization header: answered 400, not guessed."""


def credential(headers: Headers) -> str | None:
    """The API key or token a request carries (PROTOCOL §1), or None.

    Raises AmbiguousCredentialError for repeated Authorization headers (which one
    would count is anyone's guess; websockets' `get()` raises on them).
    """
    values = headers.get_all("Authorization")
    if len(values) > 1:
        raise AmbiguousCredentialError("more than one Authorization header")
    auth = values[0] if values else None
    if auth:
        scheme, _, key = auth.strip().partition(" ")
        if scheme.lower() in ("token", "bearer") and key.strip():
            return key.strip()
    offered = offered_subprotocols(headers)
    if len(offered) >= 2 and offered[0].lower() in ("token", "bearer"):
        return offered[1]
    return None


def key_matches(given: str | None, keys: Sequence[str]) -> bool:
    """Is `given` one of `keys`? Compared in constant time, every key checked (issue 11 §4)."""
    if given is None:
        return False
    data = given.encode("utf-8", "surrogateescape")
    found = False
    for key in keys:
        found |= hmac.compare_digest(data, key.encode("utf-8", "surrogateescape"))
    return found


def reject(request_id: str, status: int, message: str | None = None) -> tuple[Response, str]:
    """PROTOCOL §1: a plain HTTP refusal with dg-error and a JSON body; and its message."""
    try:
        name, phrase = HTTPStatus(status).name, HTTPStatus(status).phrase
    except ValueError:
        name, phrase = "ERROR", "Error"
    code, default = _REJECTIONS.get(status, (name, f"Request refused with HTTP {status}."))
    msg = message or default
    body = json.dumps({"err_code": code, "err_msg": msg, "request_id": request_id}).encode()
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("dg-error", header_text(msg)),
        ]
    )
    return Response(status, phrase, headers, body), msg


def select_subprotocol(subprotocols: Sequence[Subprotocol]) -> Subprotocol | None:
    # PROTOCOL §1: with `token, KEY` / `bearer, KEY` the server selects the first name.
    if subprotocols and subprotocols[0].lower() in ("token", "bearer"):
        return subprotocols[0]
    return None
