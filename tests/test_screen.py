"""The terminal emulator that the live-view tests trust (helpers.Screen)."""

from __future__ import annotations

from helpers import Screen


def test_screen_follows_cursor_up_and_erase_line() -> None:
    screen = Screen()
    screen.feed("final one\ninterim\x1b[2K\r\x1b[1A\x1b[2K")
    screen.feed("final two\n")
    assert screen.text()[:2] == ["final two", ""]


def test_screen_ignores_colours_and_modes() -> None:
    screen = Screen()
    screen.feed("\x1b[?25l\x1b[2mdim\x1b[0m text\r\n")
    assert screen.text()[0] == "dim text"
