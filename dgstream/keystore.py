"""Keeping a key, and saying where each setting comes from (`dgstream login`, `config show`).

`store_api_key` writes the top-level `api_key` of the config file (config.py describes
it), creating the file with mode 0600, or making an existing one 0600, and keeping
everything else in it as it was. `effective_settings` lists what a streaming command
would use and where each value comes from: a flag, the environment, a profile, the
config file or the default: the options, then the settings a profile may hold
(`config.profile_keys`). A key is never shown, only whether and where it is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .config import find_config, load_config, profile_keys
from .errors import ConfigError

__all__ = ["CONSOLE_URL", "Setting", "check_key", "effective_settings", "store_api_key"]

#: Where a Deepgram key comes from.
CONSOLE_URL = "https://console.deepgram.com"

_KEY = re.compile(r"[A-Za-z0-9_.\-]{8,512}")
_TOP_KEY = re.compile(r"^\s*api_key\s*=")
_TABLE = re.compile(r"^\s*\[")


def check_key(text: str) -> str:
    """The key, stripped (a CRLF paste, a trailing newline); ConfigError if it cannot be one.
    The message never repeats the text."""
    key = text.strip()
    if not key:
        raise ConfigError("no key given; paste the key from " + CONSOLE_URL)
    if not _KEY.fullmatch(key):
        raise ConfigError(
            "that does not look like a Deepgram API key (letters, digits, '-', '_' and '.' "
            f"only, 8 to 512 of them); copy it again from {CONSOLE_URL}"
        )
    return key


def store_api_key(key: str, explicit: str | Path | None = None) -> Path:
    """Write `api_key = "KEY"` at the top of the config file; return its path."""
    path, _ = find_config(explicit)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    top = next((i for i, line in enumerate(lines) if _TABLE.match(line)), len(lines))
    # The old top-level key goes (a profile's own api_key stays); the new one leads the file.
    lines = [line for i, line in enumerate(lines) if i >= top or not _TOP_KEY.match(line)]
    lines.insert(0, f'api_key = "{key}"')
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    load_config(path, warn=False)  # what was written must read back
    return path


@dataclass(frozen=True)
class Setting:
    name: str
    value: str
    source: str


def effective_settings(
    *,
    config: str | Path | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    defaults: Mapping[str, object] | None = None,
) -> list[Setting]:
    """What a streaming command run now would use, and where each value comes from."""
    env = os.environ if environ is None else environ
    path, named = find_config(config)
    cfg = load_config(config, warn=False)
    chosen = profile or env.get("DGSTREAM_PROFILE") or cfg.default_profile
    prof = cfg.profile(chosen)
    out = [
        Setting(
            "config file",
            str(path) + ("" if path.exists() else " (none yet)"),
            "flag" if config else "environment DGSTREAM_CONFIG" if named else "default",
        ),
        Setting(
            "profile",
            chosen or "(none)",
            "flag"
            if profile
            else "environment DGSTREAM_PROFILE"
            if env.get("DGSTREAM_PROFILE")
            else "config file"
            if cfg.default_profile
            else "default",
        ),
    ]
    key_sources = [
        ("environment DEEPGRAM_API_KEY", env.get("DEEPGRAM_API_KEY")),
        (f"profile {chosen}", prof.api_key if prof else None),
        ("config file", cfg.api_key),
    ]
    source = next((where for where, value in key_sources if value), None)
    out.append(Setting("api key", "set (hidden)" if source else "not set", source or "-"))
    token = env.get("DEEPGRAM_ACCESS_TOKEN")
    out.append(
        Setting(
            "access token",
            "set (hidden)" if token else "not set",
            "environment DEEPGRAM_ACCESS_TOKEN" if token else "-",
        )
    )
    url_sources = [
        ("environment DEEPGRAM_HOST", env.get("DEEPGRAM_HOST")),
        (f"profile {chosen}", prof.url if prof else None),
        ("config file", cfg.url),
    ]
    where, url = next(((w, v) for w, v in url_sources if v), ("default", None))
    out.append(Setting("url", url or "wss://api.deepgram.com", where))
    options = dict(defaults or {})
    from_profile = dict(prof.options) if prof else {}
    for name in sorted({*options, *from_profile}):
        if name in from_profile:
            out.append(Setting(name, _shown(from_profile[name]), f"profile {chosen}"))
        else:
            out.append(Setting(name, _shown(options[name]), "default"))
    settings = dict(prof.settings) if prof else {}
    for name, key in profile_keys().items():
        if name in settings:
            out.append(Setting(name, _shown(settings[name]), f"profile {chosen}"))
        else:
            out.append(Setting(name, key.default, "default"))
    if prof and prof.params:
        for name, value in sorted(prof.params.items()):
            out.append(Setting(f"param {name}", _shown(value), f"profile {chosen}"))
    return out


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
