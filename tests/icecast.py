"""A real Icecast 2 radio station on loopback for the url source's tests.

`icecast2` (Debian's package) listens on a free port; `ices2` feeds it a playlist of
Ogg Vorbis files spoken by espeak-ng, each tagged with a TITLE, on the mount
`/radio.ogg`, looping for ever. Both run as children of the test, in a fresh
directory, and are stopped by their pids. As root, Icecast refuses to run unless it
changes owner, so the config then names Debian's icecast2 user.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["Station", "station"]

#: (title, artist, what is said) of the playlist's two programmes.
PROGRAMMES = (
    ("Morning News", "Radio Test", "Good morning, here is the news. The weather is fine today."),
    ("Weather Report", "Radio Test", "And now the weather: sunny all day with a light breeze."),
)
STATION_NAME = "dgstream test radio"
_PASSWORD = "hackme-source"

ICECAST_XML = """<icecast>
  <limits><clients>20</clients><sources>2</sources><source-timeout>5</source-timeout>
    <burst-size>16384</burst-size></limits>
  <authentication><source-password>{password}</source-password>
    <admin-user>admin</admin-user><admin-password>{password}</admin-password></authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <fileserve>0</fileserve>
  <paths><logdir>{dir}</logdir><webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot></paths>
  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog>
    <loglevel>2</loglevel></logging>
  <security><chroot>0</chroot>{owner}</security>
</icecast>
"""
OWNER = "<changeowner><user>icecast2</user><group>icecast</group></changeowner>"

ICES_XML = """<?xml version="1.0"?>
<ices>
  <background>0</background><logpath>{dir}</logpath><logfile>ices.log</logfile>
  <loglevel>2</loglevel><consolelog>0</consolelog>
  <stream>
    <metadata><name>{name}</name><genre>speech</genre><description>tests</description></metadata>
    <input><module>playlist</module><param name="type">basic</param>
      <param name="file">{playlist}</param><param name="random">0</param>
      <param name="once">0</param></input>
    <instance><hostname>127.0.0.1</hostname><port>{port}</port>
      <password>{password}</password><mount>/radio.ogg</mount>
      <reconnectdelay>1</reconnectdelay><reconnectattempts>5</reconnectattempts></instance>
  </stream>
</ices>
"""


@dataclass
class Station:
    """A running Icecast server and its source."""

    dir: Path
    port: int
    icecast: subprocess.Popen[bytes]
    ices: subprocess.Popen[bytes] | None = None
    programmes: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/radio.ogg"

    def start_source(self) -> None:
        """Start ices2 and wait until the mount is on the air."""
        self.ices = subprocess.Popen(
            ["ices2", str(self.dir / "ices.xml")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not self.on_air():
            if time.monotonic() > deadline or self.ices.poll() is not None:
                raise RuntimeError(f"ices2 never went on the air: {self.log()}")
            time.sleep(0.1)

    def stop_source(self) -> None:
        """Take the source off the air (the mount goes away)."""
        if self.ices is not None and self.ices.poll() is None:
            self.ices.terminate()
            try:
                self.ices.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.ices.kill()
                self.ices.wait()

    def on_air(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/status-json.xsl", timeout=2
            ) as answer:
                stats = json.loads(answer.read().decode("utf-8", "replace"))
        except (OSError, ValueError):
            return False
        source = stats.get("icestats", {}).get("source")
        return bool(source)

    def log(self) -> str:
        parts = []
        for name in ("error.log", "ices.log"):
            path = self.dir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-2000:])
        return "\n".join(parts)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _programmes(base: Path) -> list[Path]:
    out = []
    for i, (title, artist, text) in enumerate(PROGRAMMES):
        raw, ogg = base / f"p{i}.wav", base / f"p{i}.ogg"
        subprocess.run(["espeak-ng", "-w", str(raw), text], check=True)
        subprocess.run(
            ["sox", str(raw), "-r", "22050", "-c", "1", "--comment", f"TITLE={title}",
             "--comment", f"ARTIST={artist}", str(ogg), "pad", "0", "1"],
            check=True,
        )  # fmt: skip
        out.append(ogg)
    return out


def start_station() -> Station:
    for tool in ("icecast2", "ices2", "espeak-ng", "sox"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (scripts/install-system-deps.sh)")
    base = Path(tempfile.mkdtemp(prefix="dgs-icecast-"))
    base.chmod(0o777)  # icecast, as the icecast2 user, writes its logs here
    programmes = _programmes(base)
    playlist = base / "playlist.txt"
    playlist.write_text("".join(f"{p}\n" for p in programmes))
    port = _free_port()
    owner = OWNER if os.geteuid() == 0 else ""
    (base / "icecast.xml").write_text(
        ICECAST_XML.format(port=port, dir=base, password=_PASSWORD, owner=owner)
    )
    (base / "ices.xml").write_text(
        ICES_XML.format(
            port=port, dir=base, password=_PASSWORD, playlist=playlist, name=STATION_NAME
        )
    )
    icecast = subprocess.Popen(
        ["icecast2", "-c", str(base / "icecast.xml")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    station = Station(base, port, icecast, programmes=programmes)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or icecast.poll() is not None:
                stop_station(station)
                raise RuntimeError("icecast2 did not start") from None
            time.sleep(0.05)
    try:
        station.start_source()
    except BaseException:
        stop_station(station)
        raise
    return station


def stop_station(station: Station) -> None:
    station.stop_source()
    if station.icecast.poll() is None:
        station.icecast.terminate()
        try:
            station.icecast.wait(timeout=5)
        except subprocess.TimeoutExpired:
            station.icecast.kill()
            station.icecast.wait()
    shutil.rmtree(station.dir, ignore_errors=True)


@pytest.fixture
def station() -> Iterator[Station]:
    """A live Icecast radio station on loopback (see the module docstring)."""
    running = start_station()
    try:
        yield running
    finally:
        stop_station(running)
