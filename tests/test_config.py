"""The config file: location, profiles, validation and the exposed-key warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgstream.config import find_config, load_config
from dgstream.errors import ConfigError
from dgstream.options import OptionsError
from dgstream.runner import (
    NoCredentialsError,
    SourceSpec,
    StreamRequest,
    parse_params,
    prepare,
)


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DGSTREAM_CONFIG", "DEEPGRAM_API_KEY", "DEEPGRAM_HOST", "DEEPGRAM_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_default_location_is_the_platform_config_dir(tmp_path: Path) -> None:
    path, named = find_config()
    assert path == tmp_path / "xdg" / "dgstream" / "config.toml"
    assert not named
    assert load_config().path is None  # absent at the default place: not an error


def test_env_and_flag_choose_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DGSTREAM_CONFIG", str(tmp_path / "env.toml"))
    assert find_config() == (tmp_path / "env.toml", True)
    assert find_config(tmp_path / "flag.toml") == (tmp_path / "flag.toml", True)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config()


def test_profiles_hold_options_url_key_and_params(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'api_key = "top"\nprofile = "meet"\n'
        "[profiles.meet]\nsmart-format = false\ndiarize = true\nkeyterm = ['Acme', 'Zed']\n"
        "utterance_end_ms = 1000\nparams = { beta = true, tags = ['a', 'b'] }\n"
        '[profiles.local]\nurl = "ws://127.0.0.1:8765"\napi_key = "local-key"\n',
    )
    config = load_config(path)
    assert config.api_key == "top"
    meet = config.profile(None)  # the file's default profile
    assert meet is not None and meet.name == "meet"
    assert meet.options == {
        "smart_format": False,
        "diarize": True,
        "keyterm": ["Acme", "Zed"],
        "utterance_end_ms": 1000,
    }
    assert meet.params == {"beta": "true", "tags": ["a", "b"]}
    local = config.profile("local")
    assert local is not None and (local.url, local.api_key) == ("ws://127.0.0.1:8765", "local-key")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("api_key = [", "not valid TOML"),
        ("colour = 'blue'", "unknown key 'colour'"),
        ("[profiles.x]\nmodle = 'nova-3'", "unknown key 'modle'"),
        ("[profiles.x]\nsample_rate = 0", "sample_rate: must be at least 8000"),
        ("[profiles.x]\nendpointing = 'soon'", "endpointing"),
        ("profile = 'y'\n[profiles.x]\nmodel = 'a'", "no such profile"),
        ("[profiles.x]\nurl = 5", "url must be a string"),
        ("profiles = 3", "profiles must be tables"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_unknown_profile_lists_the_known_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[profiles.a]\n[profiles.b]\n"))
    with pytest.raises(ConfigError, match=r"no profile 'c'.*profiles: a, b"):
        config.profile("c")


def test_key_readable_by_others_warns_without_printing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, 'api_key = "s3cret-value"\n', mode=0o644)
    load_config(path)
    err = capsys.readouterr().err
    assert f"chmod 600 {path}" in err and "s3cret-value" not in err
    path.chmod(0o600)
    load_config(path)
    assert capsys.readouterr().err == ""


def test_no_warning_without_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load_config(write(tmp_path, "[profiles.a]\nmodel = 'nova-2'\n", mode=0o644))
    assert capsys.readouterr().err == ""


# -- precedence: flag > environment > profile > defaults (resolved by runner.prepare) ----
def request(tmp_path: Path, **kw: object) -> StreamRequest:
    base: dict[str, object] = {
        "source": SourceSpec("file", paths=[tmp_path / "a.wav"]),
        "format": "text",
        "quiet": True,
    }
    base.update(kw)
    return StreamRequest(**base)  # type: ignore[arg-type]


def test_precedence_flag_over_profile_over_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'api_key = "file-key"\n[profiles.p]\nmodel = "nova-2"\nlanguage = "de"\n'
        'url = "ws://profile:1"\nsmart_format = false\n',
    )
    session = prepare(
        request(tmp_path, config=path, profile="p", flags={"language": "fr", "model": None})
    )
    o = session.options
    assert (o.model, o.language, o.smart_format) == ("nova-2", "fr", False)
    assert (session.api_key, session.url) == ("file-key", "ws://profile:1")
    plain = prepare(request(tmp_path, config=path))
    assert (plain.options.model, plain.options.smart_format) == ("nova-3", True)
    assert plain.options.interim_results is None  # only the live view turns it on
    live = prepare(request(tmp_path, config=path, format="live"))
    assert live.options.interim_results is True


def test_environment_key_wins_over_the_file(tmp_path: Path) -> None:
    # typer folds DEEPGRAM_API_KEY into the flag's value; prepare sees it as api_key.
    path = write(tmp_path, 'api_key = "file-key"\n')
    session = prepare(request(tmp_path, config=path, api_key="env-key"))
    assert session.api_key == "env-key"


def test_no_credentials_at_all(tmp_path: Path) -> None:
    with pytest.raises(NoCredentialsError, match="DEEPGRAM_API_KEY"):
        prepare(request(tmp_path))
    assert prepare(request(tmp_path, url="ws://127.0.0.1:8765")).api_key is None


def test_file_sources_ignore_audio_format_presets(tmp_path: Path) -> None:
    path = write(tmp_path, "[profiles.raw]\nencoding = 'linear16'\nsample_rate = 8000\n")
    session = prepare(request(tmp_path, config=path, profile="raw", url="ws://x:1"))
    assert (session.options.encoding, session.options.sample_rate) == (None, None)


def test_params_parse_and_repeat() -> None:
    assert parse_params(["a=1", "b=", "a=2", "c=x=y"]) == {"a": ["1", "2"], "b": "", "c": "x=y"}
    with pytest.raises(OptionsError, match="KEY=VALUE"):
        parse_params(["=1"])
