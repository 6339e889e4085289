"""The config file: an API key, a server URL and named profiles of option presets.

    # ~/.config/dgstream/config.toml (platformdirs' user_config_dir("dgstream"))
    api_key = "..."                 # used when neither --api-key nor DEEPGRAM_API_KEY is set
    url = "wss://api.deepgram.com"  # optional; --url and DEEPGRAM_HOST win
    profile = "meetings"            # optional: the profile used when --profile is not given

    [profiles.meetings]
    model = "nova-3"
    diarize = true
    keyterm = ["Acme", "dgstream"]
    params = { custom_flag = "1" }   # extra query parameters, like --param

    [profiles.local]
    url = "ws://127.0.0.1:8765"

The file is found at `--config PATH`, else `$DGSTREAM_CONFIG`, else the platform's
config directory. Precedence for every value: flag > environment > profile > defaults.
A missing file at the default place is not an error; a named one that is missing is.
"""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .options import FIELD_NAMES, FluxOptions, LiveOptions, OptionsError, validate

__all__ = ["Config", "Profile", "default_config_path", "find_config", "load_config"]

#: FluxOptions fields a profile may hold too (PROTOCOL §7: used with a flux-* model).
FLUX_NAMES = tuple(f.name for f in dataclasses.fields(FluxOptions))
#: Keys a profile may hold besides LiveOptions and FluxOptions fields.
PROFILE_EXTRAS = ("url", "api_key", "params")
TOP_LEVEL = ("api_key", "url", "profile", "profiles")


def default_config_path() -> Path:
    """`config.toml` in the platform's user config directory for dgstream."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("dgstream")) / "config.toml"


def find_config(explicit: str | Path | None = None) -> tuple[Path, bool]:
    """(path, named): `--config`, else `$DGSTREAM_CONFIG`, else the default place.

    `named` is True when the user chose the path, so a missing file is an error.
    """
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get("DGSTREAM_CONFIG")
    if env:
        return Path(env).expanduser(), True
    return default_config_path(), False


@dataclass(frozen=True)
class Profile:
    """One `[profiles.NAME]` table: LiveOptions fields plus url, api_key and params."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    url: str | None = None
    api_key: str | None = None
    params: dict[str, str | list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """A loaded config file (or the empty config when there is none)."""

    path: Path | None = None
    api_key: str | None = None
    url: str | None = None
    default_profile: str | None = None
    profiles: dict[str, Profile] = field(default_factory=dict)

    def profile(self, name: str | None) -> Profile | None:
        """The profile `name` (or the file's default one); ConfigError if it does not exist."""
        name = name or self.default_profile
        if not name:
            return None
        found = self.profiles.get(name)
        if found is None:
            where = f" in {self.path}" if self.path else " (there is no config file)"
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ConfigError(f"no profile {name!r}{where}; profiles: {known}")
        return found


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _string(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {where} must be a string, not {type(value).__name__}")
    return value


def _params(path: Path, where: str, value: Any) -> dict[str, str | list[str]]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: {where}.params must be a table of name = value")
    out: dict[str, str | list[str]] = {}
    for key, item in value.items():
        if isinstance(item, list):
            out[str(key)] = [_scalar(v) for v in item]
        else:
            out[str(key)] = _scalar(item)
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _profile(path: Path, name: str, table: Any) -> Profile:
    where = f"[profiles.{name}]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: {where} must be a table")
    options: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = str(raw_key).replace("-", "_")
        if key in PROFILE_EXTRAS:
            extras[key] = value
        elif key in FIELD_NAMES or key in FLUX_NAMES:
            options[key] = value
        else:
            raise ConfigError(
                f"{path}: {where} has an unknown key {raw_key!r}; use LiveOptions names "
                "(model, language, diarize, keyterm, ...), url, api_key or params"
            )
    try:
        validate(LiveOptions(**{k: v for k, v in options.items() if k in FIELD_NAMES}))
        flux = {k: v for k, v in options.items() if k in FLUX_NAMES and k not in FIELD_NAMES}
        if flux:
            validate(FluxOptions(model="flux-general-en", **flux))
    except OptionsError as exc:
        raise ConfigError(f"{path}: {where} {exc.param}: {exc.message}") from None
    except TypeError as exc:  # pragma: no cover - LiveOptions accepts any value
        raise ConfigError(f"{path}: {where}: {exc}") from None
    return Profile(
        name=name,
        options=options,
        url=_string(path, f"{where} url", extras["url"]) if "url" in extras else None,
        api_key=_string(path, f"{where} api_key", extras["api_key"])
        if "api_key" in extras
        else None,
        params=_params(path, where, extras["params"]) if "params" in extras else {},
    )


def _holds_key(data: Mapping[str, Any]) -> bool:
    if data.get("api_key"):
        return True
    profiles = data.get("profiles")
    if isinstance(profiles, Mapping):
        return any(isinstance(p, Mapping) and p.get("api_key") for p in profiles.values())
    return False


def permission_warning(path: Path) -> str | None:
    """A warning when a file holding a key can be read by group or others (POSIX only)."""
    if os.name != "posix":
        return None
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return (
            f"warning: {path} holds an API key and is readable by other users; "
            f"run: chmod 600 {path}"
        )
    return None


def load_config(explicit: str | Path | None = None, *, warn: bool = True) -> Config:
    """Read the config file (see the module docstring); warn on stderr if a key is exposed."""
    path, named = find_config(explicit)
    if not path.exists():
        if named:
            raise ConfigError(f"config file {path} does not exist")
        return Config()
    data = _load_toml(path)
    unknown = [k for k in data if k not in TOP_LEVEL]
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r}; the top level holds api_key, url, profile "
            "and [profiles.NAME] tables"
        )
    profiles_table = data.get("profiles", {})
    if not isinstance(profiles_table, Mapping):
        raise ConfigError(f"{path}: profiles must be tables: [profiles.NAME]")
    profiles = {str(n): _profile(path, str(n), t) for n, t in profiles_table.items()}
    default_profile = (
        _string(path, "profile", data["profile"]) if data.get("profile") is not None else None
    )
    if default_profile and default_profile not in profiles:
        raise ConfigError(f"{path}: profile = {default_profile!r} but there is no such profile")
    if warn and _holds_key(data):
        message = permission_warning(path)
        if message:
            print(f"dgstream: {message}", file=sys.stderr)
    return Config(
        path=path,
        api_key=_string(path, "api_key", data["api_key"]) if data.get("api_key") else None,
        url=_string(path, "url", data["url"]) if data.get("url") else None,
        default_profile=default_profile,
        profiles=profiles,
    )
