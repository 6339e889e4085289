"""What the /v1 query's output parameters do to Results and Metadata, and which ones this
server cannot honour. No I/O.

PROTOCOL §2, issue 12.2: every parameter does what Deepgram does, or the server says it
doesn't. Done here, on the words an engine gives:

* `search` -- `channel.search`: per query, hits `{confidence, start, end, snippet}` where
  the result's words match the query's (closeness of the text, times of the words);
* `replace` -- `find:replace` on whole words (`find` may be several words);
* `extra` -- `key:value` pairs, echoed as an object in Metadata and Results' metadata;
* `alternatives` -- N alternatives: engines give one hypothesis, so the others repeat it
  at lower confidence (said in the not-honoured list);
* `detect_entities` -- an `entities` list on each alternative (always empty here).

`not_honoured()` lists, once per connection, every parameter accepted but not honoured
(and why): the server logs it as a warning and keeps it in the connection's logbook.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..options import LiveOptions
    from .engine import EngineWord

__all__ = ["extra_object", "list_of", "not_honoured", "replace_words", "search_hits"]

#: A search hit needs at least this closeness (difflib ratio) between query and snippet.
_MIN_HIT = 0.7
_MAX_HITS = 10


def list_of(value: object) -> list[str]:
    """A list parameter's values (a lone string is one value; None is none)."""
    if value is None or value is False:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def extra_object(values: Sequence[str]) -> dict[str, str]:
    """`extra=key:value` pairs as the object Deepgram echoes (a value without `:` is a key)."""
    out: dict[str, str] = {}
    for item in values:
        key, _, value = item.partition(":")
        out[key] = value
    return out


def _plain(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum() or c in "' ").strip()


def replace_words(words: list[EngineWord], rules: Sequence[str]) -> list[EngineWord]:
    """Apply `find:replace` rules to whole words (a multi-word `find` becomes one word)."""
    for rule in rules:
        find, sep, repl = rule.partition(":")
        target = _plain(find).split()
        if not sep or not target:
            continue
        out: list[EngineWord] = []
        i = 0
        n = len(target)
        while i < len(words):
            span = words[i : i + n]
            if len(span) == n and [_plain(w.word) for w in span] == target:
                first, last = span[0], span[-1]
                out.append(
                    dataclasses.replace(
                        first, word=repl.lower(), end=last.end, punctuated=repl or None
                    )
                )
                i += n
            else:
                out.append(words[i])
                i += 1
        words = [w for w in out if w.word]
    return words


def search_hits(words: list[EngineWord], queries: Sequence[str]) -> list[dict[str, Any]]:
    """PROTOCOL §4 `channel.search`: per query, the stretches of `words` that match it."""
    out: list[dict[str, Any]] = []
    for query in queries:
        wanted = _plain(query)
        n = max(1, len(wanted.split()))
        hits: list[dict[str, Any]] = []
        for i in range(len(words) - n + 1):
            span = words[i : i + n]
            snippet = " ".join(w.word for w in span)
            closeness = difflib.SequenceMatcher(None, wanted, _plain(snippet)).ratio()
            if closeness >= _MIN_HIT:
                confidence = closeness * sum(w.confidence for w in span) / n
                hits.append(
                    {
                        "confidence": round(confidence, 3),
                        "start": round(span[0].start, 3),
                        "end": round(span[-1].end, 3),
                        "snippet": snippet,
                    }
                )
        hits.sort(key=lambda h: -float(h["confidence"]))
        out.append({"query": query, "hits": hits[:_MAX_HITS]})
    return out


def not_honoured(
    options: LiveOptions, unknown: Mapping[str, Sequence[str]], *, keyterms: bool
) -> list[str]:
    """Each /v1 parameter that is accepted but not (fully) honoured, with the reason."""
    out: list[str] = []

    def note(name: str, why: str) -> None:
        out.append(f"{name} ({why})")

    if options.alternatives is not None and options.alternatives > 1:
        note("alternatives", "the engine gives one hypothesis; the others repeat it")
    if options.detect_entities:
        note("detect_entities", "no entity detection: `entities` is always empty")
    for name in ("keyterm", "keywords"):
        if list_of(getattr(options, name)) and not keyterms:
            note(name, "the engine cannot bias its recognition")
    if options.redact not in (None, False):
        note("redact", "no redaction")
    if options.profanity_filter:
        note("profanity_filter", "no profanity filter")
    if options.filler_words:
        note("filler_words", "the engine decides whether fillers are transcribed")
    if options.dictation:
        note("dictation", "spoken punctuation is not converted")
    if options.callback or options.callback_method:
        note("callback", "this server makes no outbound requests; results come on the socket")
    if options.language is not None and not options.language.lower().startswith("en"):
        note("language", "the engine transcribes English")
    if options.language_hint:
        note("language_hint", "the engine has no language detection")
    for name in sorted(unknown):
        note(name, "unknown parameter, ignored")
    return out
