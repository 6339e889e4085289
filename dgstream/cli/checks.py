"""Checks of flag values that Typer's types do not make: empty and unknown values are
usage errors (exit 2) before anything connects (issue 16).

Each check takes one value as given and returns it (normalised) or raises
`typer.BadParameter`; `checked()` makes a Typer callback of one for a flag that may be
repeated. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import typer

__all__ = [
    "REDACT_VALUES",
    "Check",
    "callback_url",
    "channel_names",
    "checked",
    "key_value",
    "keyword",
    "language",
    "not_empty",
    "redact",
    "single_word",
]

Check = Callable[[str], str]

#: `redact=` values (PROTOCOL §2: "bool, string or list, e.g. pci, ssn, numbers"). The
#: groups and entity types Deepgram's redaction and entity-type pages document; others
#: can still be sent with `--param redact=NAME`.
REDACT_GROUPS = ("true", "false", "pci", "pii", "phi", "numbers", "aggressive_numbers")
REDACT_ENTITIES = (
    "account_number", "age", "blood_type", "condition", "credit_card",
    "credit_card_expiration", "cvv", "date", "date_interval", "dob", "driver_license",
    "drug", "email_address", "healthcare_number", "injury", "ip_address", "location",
    "location_address", "location_city", "medical_process", "name", "numerical_pii",
    "passport_number", "phone_number", "ssn", "statistics",
)  # fmt: skip
REDACT_VALUES = frozenset(REDACT_GROUPS + REDACT_ENTITIES)

#: A BCP-47 tag as Deepgram takes it (en, en-GB, zh-Hans-CN), or `multi`.
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*|multi")


def not_empty(value: str) -> str:
    if not value.strip():
        raise typer.BadParameter("must not be empty")
    return value


def single_word(value: str) -> str:
    """A name such as a model or a version: not empty, no spaces."""
    not_empty(value)
    if any(ch.isspace() for ch in value):
        raise typer.BadParameter(f"{value!r} has spaces")
    return value


def language(value: str) -> str:
    not_empty(value)
    if not _LANGUAGE.fullmatch(value):
        raise typer.BadParameter(f"{value!r} is not a BCP-47 language tag (en, en-GB) or multi")
    return value


def redact(value: str) -> str:
    low = value.strip().lower()
    if low not in REDACT_VALUES:
        raise typer.BadParameter(
            f"unknown redaction {value!r}; use true, false, pci, pii, phi, numbers or an "
            "entity type such as ssn or email_address (others: --param redact=NAME)"
        )
    return low


def key_value(value: str) -> str:
    """`KEY:VALUE` (--extra): a key before the first colon."""
    key, sep, _ = value.partition(":")
    if not sep or not key.strip():
        raise typer.BadParameter(f"expected KEY:VALUE, got {value!r}")
    return value


def keyword(value: str) -> str:
    """`WORD` or `WORD:BOOST` (--keywords), the boost a number."""
    word, sep, boost = value.rpartition(":") if ":" in value else (value, "", "")
    not_empty(word)
    if sep:
        try:
            float(boost)
        except ValueError:
            raise typer.BadParameter(f"the boost of {value!r} is not a number") from None
    return value


def callback_url(value: str) -> str:
    """An http(s) URL with a host (--callback)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(f"expected an http:// or https:// URL, got {value!r}")
    return value


def channel_names(value: str) -> str:
    """`A,B,...` (--channel-names): names without brackets, none empty."""
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise typer.BadParameter(f"expected names separated by commas (You,Others), got {value!r}")
    if any(ch in name for name in names for ch in "[]"):
        raise typer.BadParameter("channel names cannot hold [ or ]")
    return value


def checked(check: Check) -> Callable[[Any], Any]:
    """A Typer callback applying `check` to a value, or to each value of a repeated flag."""

    def callback(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            return [check(str(item)) for item in value]
        return check(str(value)) if isinstance(value, str) else value

    return callback
