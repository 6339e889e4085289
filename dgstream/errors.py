"""dgstream's exceptions. Each carries the data a user needs to act on it.

    DgstreamError
    ├── OptionsError                      an option value the service would reject (also a ValueError)
    ├── ConfigError                       a bad config file or profile
    ├── AudioError                        an audio source cannot be opened or read
    ├── ConnectError                      the server could not be reached (refused, DNS, TLS, timeout)
    ├── HandshakeError                    the server answered the upgrade with an HTTP error
    │   ├── BadRequestError               400: a parameter was rejected
    │   ├── AuthError                     401/403: the key is missing, wrong or not allowed
    │   ├── PaymentRequiredError          402: the project is out of credit
    │   ├── RateLimitError                429: too many requests or connections
    │   └── ServerUnavailableError        5xx
    └── StreamClosedError                 the server ended the stream with an error close code

A HandshakeError keeps `status`, `dg_error` (the header), `request_id`, `message`
(the body's message) and `body` (raw). A StreamClosedError keeps `code`, `reason`
and `explanation` (what the NET-0000/NET-0001/DATA-0000 codes mean in plain words).
"""

from __future__ import annotations

import json

from .sanitize import printable

__all__ = [
    "AudioError",
    "AuthError",
    "BadRequestError",
    "ConfigError",
    "ConnectError",
    "DgstreamError",
    "HandshakeError",
    "OptionsError",
    "PaymentRequiredError",
    "RateLimitError",
    "ReconnectFailedError",
    "ServerUnavailableError",
    "StreamClosedError",
    "explain_close",
    "handshake_error",
]


class DgstreamError(Exception):
    """Base of all dgstream errors."""


class OptionsError(DgstreamError, ValueError):
    """An option has a value the service would reject; `param` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class ConfigError(DgstreamError):
    """The config file or a profile in it is unusable."""


class AudioError(DgstreamError):
    """An audio source cannot be opened or read; the message says what to check."""


class ConnectError(DgstreamError):
    """The server could not be reached: refused, unresolvable, TLS failure or timeout."""

    def __init__(self, message: str, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class HandshakeError(DgstreamError):
    """The server refused the WebSocket upgrade with an HTTP status."""

    def __init__(
        self,
        status: int,
        *,
        dg_error: str = "",
        request_id: str = "",
        message: str = "",
        body: str = "",
        url: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        #: The response's headers (lower-case names), as the newest SDKs' ApiError has them.
        self.headers = dict(headers or {})
        self.dg_error = dg_error
        self.request_id = request_id
        self.message = message
        self.body = body
        self.url = url
        super().__init__(printable(self._text()))  # the server's text: inert (issue 11.5)

    @property
    def status_code(self) -> int:
        """The newest SDKs' name for `status` (their ApiError), so code written for them works."""
        return self.status

    def _text(self) -> str:
        what = self.message or self.dg_error or "no message"
        extra = []
        if self.dg_error and self.dg_error != what:
            extra.append(f"dg-error: {self.dg_error}")
        if self.request_id:
            extra.append(f"request id {self.request_id}")
        return f"HTTP {self.status}: {what}" + (f" ({'; '.join(extra)})" if extra else "")


class BadRequestError(HandshakeError):
    """400: the server rejected a parameter."""


class AuthError(HandshakeError):
    """401 or 403: credentials missing, invalid or not permitted."""


class PaymentRequiredError(HandshakeError):
    """402: the project has run out of credit."""


class RateLimitError(HandshakeError):
    """429: too many requests or concurrent connections."""


class ServerUnavailableError(HandshakeError):
    """5xx: the service is unavailable."""


def handshake_error(
    status: int, headers: dict[str, str], body: bytes | str, url: str = ""
) -> HandshakeError:
    """Build the HandshakeError subclass for an HTTP rejection (PROTOCOL §1)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    message = ""
    request_id = headers.get("dg-request-id", "")
    try:
        data = json.loads(text) if text else None
    except (ValueError, RecursionError):  # not JSON, or nested too deeply (issue 10.3)
        data = None
    if isinstance(data, dict):
        for key in ("err_msg", "message", "reason", "description"):
            value = data.get(key)
            if isinstance(value, str) and value:
                message = value
                break
        rid = data.get("request_id")
        if not request_id and isinstance(rid, str):
            request_id = rid
    elif text:
        message = text.strip().splitlines()[0][:200] if text.strip() else ""
    cls: type[HandshakeError]
    if status == 400:
        cls = BadRequestError
    elif status in (401, 403):
        cls = AuthError
    elif status == 402:
        cls = PaymentRequiredError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        cls = ServerUnavailableError
    else:
        cls = HandshakeError
    return cls(
        status,
        dg_error=headers.get("dg-error", ""),
        request_id=request_id,
        message=message,
        body=text[:2000],
        url=url,
        headers={k: v for k, v in headers.items() if k not in ("authorization", "set-cookie")},
    )


_EXPLAIN = {
    "NET-0000": "the server did not produce a result in time (NET-0000); try again",
    "NET-0001": (
        "no audio or KeepAlive reached the server for about 10 s, so it closed the stream "
        "(NET-0001); send audio or enable keepalive"
    ),
    "DATA-0000": (
        "the server could not decode the audio (DATA-0000); check --encoding, --sample-rate "
        "and --channels, or send a container format such as WAV"
    ),
}


def explain_close(code: int | None, reason: str) -> str:
    """A plain explanation of a close code and reason."""
    for key, text in _EXPLAIN.items():
        if key in reason or key.lower().replace("-", "") in reason:
            return text
    if "keepalive ping timeout" in reason:
        # websockets closes 1011 itself when the peer stops answering pings.
        return "the server stopped answering pings; the network or the server is stuck"
    if code == 1000:
        return "the stream ended normally"
    if code is None or code == 1006:
        return "the connection was lost without a close frame (network failure or server crash)"
    if code == 1008:
        return "the server rejected the data as a policy violation"
    if code == 1011:
        return "the server hit an internal error"
    if code == 1009:
        return "a message was larger than allowed"
    return f"the server closed the connection with code {code}"


class StreamClosedError(DgstreamError):
    """The server closed the stream with an error code, or the connection was lost."""

    def __init__(self, code: int | None, reason: str = "", *, by_client: bool = False) -> None:
        self.code = code
        self.reason = reason
        #: dgstream closed the connection itself (a message over its size limit, a ping
        #: the server did not answer), not the server.
        self.by_client = by_client
        self.explanation = explain_close(code, reason)
        if by_client and code == 1009:
            self.explanation = "a message from the server was larger than allowed (16 MiB)"
        detail = f" ({printable(reason)})" if reason else ""  # the server's text (issue 11.5)
        who = "dgstream closed the connection" if by_client else "connection closed"
        super().__init__(f"{who} with code {code}{detail}: {self.explanation}")


class ReconnectFailedError(StreamClosedError):
    """The connection was lost and could not be re-established; `lost_seconds` of audio have no final."""

    def __init__(
        self,
        code: int | None,
        reason: str = "",
        *,
        attempts: int,
        outage: float,
        lost_seconds: float,
        last_failure: Exception | None = None,
    ) -> None:
        super().__init__(code, reason)
        self.attempts = attempts
        self.outage = outage
        self.lost_seconds = lost_seconds
        self.last_failure = last_failure
        last = f"; last error: {last_failure}" if last_failure else ""
        self.args = (
            f"connection lost ({self.explanation}) and {attempts} reconnect attempt"
            f"{'s' if attempts != 1 else ''} over {outage:.1f} s failed{last}; "
            f"{lost_seconds:.2f} s of audio were not transcribed",
        )
