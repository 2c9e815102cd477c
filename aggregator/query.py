"""The search box's language: what a person types, read into a full-text match, filters and notes
for the page. Pure: no SQL, no I/O. The CLI and the web read queries only through `parse_query`,
so both search the same way.

    solar panels            both words (in any field)
    solar OR wind           either word
    "solar panels"          the phrase
    sol*                    words starting with `sol` (three letters or more)
    -battery  -"car port"   without the word or the phrase
    tag:energy  tag:"long reads"  feed:Hackaday  site:example.org   filters
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from dataclasses import dataclass, field

__all__ = ["HELP", "ParsedQuery", "fold", "parse_query", "snippet", "snippet_text"]

MIN_PREFIX = 3  # shorter prefixes match most of a collection; they are searched as words
MAX_QUERY_CHARS = 500
MAX_TERMS = 16
FILTER_KEYS = ("tag", "feed", "site")

HELP = (
    "Words must all match (OR between two words takes either); "
    '"quoted words" match as a phrase; sol* matches words that start with '
    "sol (three letters or more); -word leaves out articles with that word; tag:name, feed:title "
    "and site:example.org narrow the search."
)

# A quoted run, or a run of anything but spaces; each may carry a leading `-` or a `key:`.
_PIECE = re.compile(r'(-?)(?:([A-Za-z]+):)?(?:"([^"]*)"?|(\S+))')
_WORD = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case without diacritics, as the full-text index stores words (unicode61 with
    remove_diacritics 2), so a word of a query can be compared with an indexed word."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True)
class _Term:
    words: tuple[str, ...]  # folded words; more than one is a phrase
    prefix: bool = False

    def fts(self) -> str:
        quoted = '"' + " ".join(self.words) + '"'
        return quoted + "*" if self.prefix else quoted


@dataclass(frozen=True)
class ParsedQuery:
    """What a query asks for. `match` is a safe FTS5 expression ('' when nothing is searched);
    `single` names the one word or prefix searched when the query is exactly that (the key of
    the precomputed best-match lists, `w:word` or `p:pre`), else ''."""

    match: str = ""
    single: str = ""
    tags: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def has_filters(self) -> bool:
        return bool(self.tags or self.feeds or self.sites)


def _words(text: str) -> tuple[str, ...]:
    return tuple(fold(w) for w in _WORD.findall(text))[:MAX_TERMS]


def parse_query(text: str | None) -> ParsedQuery:
    """Read a query as the page's help describes it. Never raises: anything that is not a word
    is ignored (punctuation cannot break the full-text syntax), and what was changed is said in
    `notes`."""
    text = (text or "")[:MAX_QUERY_CHARS]
    groups: list[list[_Term]] = []  # terms of a group are OR'ed, groups AND'ed
    negative: list[_Term] = []
    pending_or = pending_not = False
    filters: dict[str, list[str]] = {key: [] for key in FILTER_KEYS}
    notes: list[str] = []
    for m in _PIECE.finditer(text):
        minus, key, quoted, bare = m.group(1), m.group(2), m.group(3), m.group(4)
        if key and key.lower() in FILTER_KEYS and not minus:
            value = (quoted if quoted is not None else bare or "").strip()
            if value:
                filters[key.lower()].append(value[:200])
            continue
        if not minus and not key and bare in ("OR", "NOT", "AND"):
            pending_or, pending_not = bare == "OR" and bool(groups), bare == "NOT"
            continue
        raw = m.group(0)[len(minus) :] if key else (quoted if quoted is not None else bare) or ""
        term = _term(raw, phrase=quoted is not None and not key, notes=notes)
        if term is None:
            continue
        if minus or pending_not:
            negative.append(term)
        elif pending_or:
            groups[-1].append(term)
        else:
            groups.append([term])
        pending_or = pending_not = False
    groups, negative = [g[:MAX_TERMS] for g in groups[:MAX_TERMS]], negative[:MAX_TERMS]
    if negative and not groups:
        notes.append("A search needs at least one word to look for; -word only leaves words out.")
        negative = []
    parts = [
        g[0].fts() if len(g) == 1 else "(" + " OR ".join(t.fts() for t in g) + ")" for g in groups
    ]
    # FTS5 joins phrases side by side with an implicit AND, but not a parenthesised OR group:
    # `("solar" OR "wind") "panels"` is a syntax error; AND is spelled out beside one
    match = (" AND " if any(len(g) > 1 for g in groups) else " ").join(parts)
    if len(parts) > 1 and negative:
        match = f"({match})"
    for t in negative:
        match += f" NOT {t.fts()}"
    single = ""
    if len(groups) == 1 and len(groups[0]) == 1 and not negative and len(groups[0][0].words) == 1:
        only = groups[0][0]
        single = ("p:" if only.prefix else "w:") + only.words[0]
    return ParsedQuery(
        match=match,
        single=single,
        tags=tuple(filters["tag"]),
        feeds=tuple(filters["feed"]),
        sites=tuple(filters["site"]),
        notes=tuple(dict.fromkeys(notes)),
    )


def _term(raw: str, *, phrase: bool, notes: list[str]) -> _Term | None:
    prefix = not phrase and raw.endswith("*")
    words = _words(raw)
    if not words:
        return None
    if prefix and len(words) == 1 and len(words[0]) < MIN_PREFIX:
        notes.append(
            f"Prefixes need at least {MIN_PREFIX} letters: searched for the word "
            f"“{words[0]}” instead of everything starting with it."
        )
        prefix = False
    if prefix and len(words) > 1:
        prefix = False  # "e-mail*" is the phrase "e mail": a prefix of a phrase is not offered
    return _Term(words=words, prefix=prefix)


def _matcher(parsed: ParsedQuery) -> tuple[set[str], tuple[str, ...]]:
    whole: set[str] = set()
    prefixes: list[str] = []
    for m in re.finditer(r'"((?:[^"]|"")*)"(\*?)', parsed.match):
        before = parsed.match[: m.start()]
        if before.rstrip().endswith("NOT"):
            continue
        words = m.group(1).split()
        if m.group(2):
            prefixes.extend(words)
        else:
            whole.update(words)
    return whole, tuple(prefixes)


@functools.lru_cache(maxsize=256)
def _pattern(whole: frozenset[str], prefixes: tuple[str, ...]) -> re.Pattern[str] | None:
    alternatives = [re.escape(w) + r"\b" for w in sorted(whole)]
    alternatives += [re.escape(p) + r"\w*" for p in prefixes]
    if not alternatives:
        return None
    return re.compile(r"\b(?:" + "|".join(alternatives) + ")", re.I)


def _has_match(text: str | None, parsed: ParsedQuery) -> bool:
    whole, prefixes = _matcher(parsed)
    pattern = _pattern(frozenset(whole), prefixes)
    if not text or pattern is None:
        return False
    sample = text[:50_000]
    return pattern.search(sample if sample.isascii() else fold(sample)) is not None


def snippet(
    text: str | None, parsed: ParsedQuery, *, words: int = 32, fallback: str | None = None
) -> str:
    """About `words` words of `text` around where most query words match, HTML-escaped, each
    matched word in <mark>. Computed here rather than by FTS5's snippet() because that needs the
    full-text cursor on the row, which a page ranked through the precomputed lists does not have.
    Words are compared folded (case and diacritics), as the index compares them. When nothing
    matched in `text` (the words were in the title, say), `fallback` is shown instead."""
    if fallback and not _has_match(text, parsed):
        text = fallback
    if not text:
        return ""
    text = text[:50_000]  # the window is looked for in the first pages of a long text
    whole, prefixes = _matcher(parsed)
    folded = text if text.isascii() else fold(text)
    if len(folded) != len(text):  # folding changed offsets (ligatures ...): compare as-is
        folded = text
    pattern = _pattern(frozenset(whole), prefixes)
    spans = [m.span() for m in pattern.finditer(folded)] if pattern else []
    # the densest run of matches: most match starts within a window of ~`words` words
    reach = words * 7
    best, best_count, j = 0, 0, 0
    for i, (start, _) in enumerate(spans):
        while spans[j][0] < start - reach:
            j += 1
        if i - j + 1 > best_count:
            best, best_count = j, i - j + 1
    anchor = spans[best][0] if spans else 0
    # begin a few words before the first match of the run
    tokens_before = [m.start() for m in _WORD.finditer(text, max(0, anchor - 60), anchor)]
    start = tokens_before[max(0, len(tokens_before) - 4)] if tokens_before else anchor
    start = 0 if anchor - start > 80 else start
    end = start
    for taken, m in enumerate(_WORD.finditer(text, start)):
        if taken == words:
            break
        end = m.end()
    if not _WORD.search(text, end):
        end = len(text)
    out: list[str] = ["…" if start else ""]
    pos = start
    for s_start, s_end in spans:
        if s_end <= start or s_start < pos:
            continue
        if s_start >= end:
            break
        out.append(html.escape(text[pos:s_start]))
        out.append("<mark>" + html.escape(text[s_start:s_end]) + "</mark>")
        pos = s_end
    out.append(html.escape(text[pos:end]))
    if end < len(text):
        out.append("…")
    return "".join(out)


def snippet_text(marked: str | None) -> str:
    """A snippet of `snippet` as plain text for a terminal: matched words in [brackets]."""
    text = (marked or "").replace("<mark>", "[").replace("</mark>", "]")
    return " ".join(html.unescape(text).split())
