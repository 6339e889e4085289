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
    timestamps = true                # what a flag of the shared table sets (--timestamps)
    output = "meeting.srt"
    device = "USB"                   # a source's own setting: device, system_device, speed

    [profiles.local]
    url = "ws://127.0.0.1:8765"

A profile holds LiveOptions and FluxOptions fields, the `StreamRequest` attributes the
shared flags set (read from the one flag table, `cli.flags.STREAM_FLAGS`: format,
timestamps, output, reconnect, local, ...), the source settings in `SOURCE_KEYS`,
and url, api_key and params. The file is found at `--config PATH`, else
`$DGSTREAM_CONFIG`, else the platform's config directory. Precedence for every value:
flag > environment > profile > defaults (`run.request.prepare`). A missing file at the
default place is not an error; a named one that is missing is.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import stat
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .options import FIELD_NAMES, FluxOptions, LiveOptions, OptionsError, validate

if TYPE_CHECKING:
    from .cli.flags import Flag

__all__ = [
    "SOURCE_KEYS",
    "Config",
    "Profile",
    "ProfileKey",
    "default_config_path",
    "find_config",
    "load_config",
    "profile_keys",
]

#: FluxOptions fields a profile may hold too (PROTOCOL §7: used with a flux-* model).
FLUX_NAMES = tuple(f.name for f in dataclasses.fields(FluxOptions))
#: Keys a profile may hold besides options fields and settings (`profile_keys()`).
PROFILE_EXTRAS = ("url", "api_key", "params")
#: Flag rows that choose the file and the profile themselves: not a profile's to set.
_NOT_SETTINGS = frozenset({"profile", "config", *PROFILE_EXTRAS})
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
class ProfileKey:
    """A setting a profile may hold besides options: a `StreamRequest` attribute (from a
    flag row) or a source's own setting. `convert` checks a TOML value and returns what
    the request wants, or raises ValueError saying what is wrong; `default` is how
    `config show` names the value used when nothing sets it."""

    name: str
    convert: Callable[[Any], Any]
    default: str
    #: "request" (a StreamRequest attribute) or "source" (a SourceSpec field).
    to: str = "request"


def _number(kind: type, minimum: float | None) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        ok = isinstance(value, int) or (kind is float and isinstance(value, float))
        if isinstance(value, bool) or not ok:
            raise ValueError(f"must be {'an integer' if kind is int else 'a number'}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum:g}")
        return kind(value)

    return convert


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _text(check: Callable[[str], str] | None = None) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            value = ",".join(value)  # channel_names = ["You", "Others"]
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        if check is not None:
            import typer

            try:
                return check(value)
            except typer.BadParameter as exc:
                raise ValueError(exc.message) from None
        return value

    return convert


def _path(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a file name (a string)")
    return Path(value).expanduser()


def _choice(choices: type[Enum]) -> Callable[[Any], Any]:
    names = [str(member.value) for member in choices]

    def convert(value: Any) -> Any:
        if not isinstance(value, str) or value.lower() not in names:
            raise ValueError(f"must be one of {', '.join(names)}")
        return value.lower()

    return convert


def _flag_key(flag: Flag) -> ProfileKey:
    """The profile key of a `to="request"` row: its type and bounds are the flag's."""
    from .cli.flags import Bool, File, Float, Int, Str

    kind = flag.type
    minimum = flag.typer_options.get("min")
    convert: Callable[[Any], Any]
    if kind in (bool, Bool):
        convert = _boolean
    elif kind in (int, Int):
        convert = _number(int, minimum)
    elif kind in (float, Float):
        convert = _number(float, minimum)
    elif kind == File:
        convert = _path
    elif kind == Str:
        convert = _text(flag.check)
    else:  # Union[SomeEnum, None]: a choice
        enums = [a for a in typing.get_args(kind) if isinstance(a, type) and issubclass(a, Enum)]
        if not enums:  # pragma: no cover - a new kind of row: add it above
            raise TypeError(f"no profile conversion for --{flag.param}'s type {kind!r}")
        convert = _choice(enums[0])
    if flag.shown is not None:
        default = flag.shown
    elif isinstance(flag.default, bool):
        default = "true" if flag.default else "false"
    else:
        default = "(none)" if flag.default is None else f"{flag.default:g}"
    return ProfileKey(flag.dest, convert, default)


#: The source commands' own settings a profile may preset (SourceSpec fields): they are
#: not rows of the shared flag table because each source command declares its own.
SOURCE_KEYS: tuple[ProfileKey, ...] = (
    ProfileKey("device", _text(), "the system's default input (mic), output (system)", "source"),
    ProfileKey("system_device", _text(), "the default output", "source"),
    ProfileKey("speed", _number(float, 0), "1", "source"),
)


@functools.cache
def profile_keys() -> dict[str, ProfileKey]:
    """The settings a profile may hold besides options, url, api_key and params: every
    `StreamRequest` attribute of the shared flag table (format, timestamps, output,
    reconnect, local, ...) and `SOURCE_KEYS`, by name."""
    from .cli.flags import STREAM_FLAGS

    keys = {
        flag.dest: _flag_key(flag)
        for flag in STREAM_FLAGS
        if flag.to == "request" and flag.dest not in _NOT_SETTINGS
    }
    keys.update((key.name, key) for key in SOURCE_KEYS)
    return keys


@dataclass(frozen=True)
class Profile:
    """One `[profiles.NAME]` table: options fields, settings, url, api_key and params."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    #: Settings (`profile_keys()`), converted: StreamRequest attributes and source fields.
    settings: dict[str, Any] = field(default_factory=dict)
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
    settings: dict[str, Any] = {}
    keys = profile_keys()
    for raw_key, value in table.items():
        key = str(raw_key).replace("-", "_")
        if key in PROFILE_EXTRAS:
            extras[key] = value
        elif key in FIELD_NAMES or key in FLUX_NAMES:
            options[key] = value
        elif key in keys:
            try:
                settings[key] = keys[key].convert(value)
            except ValueError as exc:
                raise ConfigError(f"{path}: {where} {key}: {exc}") from None
        else:
            raise ConfigError(
                f"{path}: {where} has an unknown key {raw_key!r}; use option names (model, "
                "language, diarize, keyterm, ...), flag settings (format, timestamps, output, "
                "reconnect, local, ...), device, speed, url, api_key or params"
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
        settings=settings,
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
            raise ConfigError(f"{path} does not exist (named by --config or DGSTREAM_CONFIG)")
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
