"""Text as the bot handles it, one pure function for each job: folding for matching, one-line and
clipped display, HTML escaping, lengths as Telegram counts them, and Markdown as the words a
reader sees.

Everything that compares, matches or shows post text goes through these, so a search, a topic,
the quality gate and a rendered message never disagree about what a post says.
"""

from __future__ import annotations

import functools
import html
import itertools
import re
import sys
import unicodedata
from pathlib import Path

ELLIPSIS = "…"


# -- display --------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram text limit and entity offset."""
    # Encoding is done in C: an order of magnitude faster than counting astral characters in Python.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def escape(text: str) -> str:
    """Post or user text for Telegram HTML: `<`, `>` and `&` as entities (docs/telegram.md)."""
    return html.escape(text, quote=False)


_TAG = re.compile(r"<[^>]*>")


def html_to_plain(text: str) -> str:
    """The visible text of our own HTML: for the one plain-text retry after `can't parse
    entities`, and for a search snippet on the command line."""
    return html.unescape(_TAG.sub("", text))


# Control characters (NUL above all: Telegram's parser reads it as the end of the text) never
# reach a message; newlines and tabs inside one line of post text become spaces.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def one_line(text: str) -> str:
    """`text` on one line: control characters and runs of blanks as one space, trimmed."""
    if text.isprintable() and "  " not in text:  # the usual case, checked in C
        return text.strip()
    return " ".join(_CONTROL.sub(" ", text).split())


def clip(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-16 units, else its longest prefix that fits with "…"."""
    if utf16_len(text) <= limit:
        return text
    used = 0
    for index, char in enumerate(text):
        used += utf16_len(char)
        if used > limit - 1:
            return text[:index].rstrip() + ELLIPSIS
    return text  # pragma: no cover - the length check above returned already


def is_latin(char: str) -> bool:
    """An ASCII letter or digit: the characters that make up a Latin word."""
    return char.isascii() and char.isalnum()


def shown_text(text: str) -> str:
    """Text as snippets show it: one line, no control characters, NFC."""
    return unicodedata.normalize("NFC", one_line(text))


# -- matching -------------------------------------------------------------------------------------

# A text longer than this compiles `_Fast`'s patterns, if nothing has yet.
_SHORT = 512


# The code points where Traditional Chinese characters are: the CJK ideographs (with extension A)
# and the compatibility ideographs.
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))

T2S_TABLE_FILE = Path(__file__).with_name("t2s_table.py")


@functools.cache
def _t2s_table() -> dict[int, int]:
    """Every ideograph OpenCC's standard `t2s` converts on its own, to what it converts it to, by
    code point (a `str.translate` table): read from bot/t2s_table.py (`opencc_t2s_pairs` made it)
    at the first fold that needs it, in a fraction of a millisecond; from OpenCC, about 19."""
    from bot.t2s_table import PAIRS  # noqa: PLC0415 - 8,000 characters only a fold needs

    return str.maketrans(PAIRS[::2], PAIRS[1::2])


class _Fast:
    """The patterns that fold fast, several times faster per character than folding a text whole
    (NFKC over all of it, `str.translate`), but about 5 ms to compile: the first text over _SHORT
    characters compiles them, and from then on every text takes them. Until then a short text is
    folded whole: a command that folds only short texts (`check`, `preview`, `search` on an
    index that is up to date) never compiles them, and the bot, which folds bodies from its
    start, folds even a query with them."""

    patterns: tuple[re.Pattern[str], re.Pattern[str]] | None = None

    @classmethod
    def compiled(cls) -> tuple[re.Pattern[str], re.Pattern[str]]:
        """(the runs NFKC may change, the characters `_t2s_table` converts).

        NFKC leaves ASCII and the CJK ideographs as they are, and nothing composes with them from
        behind; so only the runs of other characters (，：ＡＩ…) need normalising, each with the
        one character before it (e + U+0301 -> é): four times faster than NFKC over Chinese
        text. Finding the Traditional characters is fifteen times faster than `str.translate`
        over a long, mostly Simplified text."""
        if cls.patterns is None:
            cls.patterns = cls.build()
        return cls.patterns

    @staticmethod
    def build() -> tuple[re.Pattern[str], re.Pattern[str]]:
        """The patterns, compiled anew."""
        table = _t2s_table()
        return (
            re.compile(r"[^\x00-\x7f\u4e00-\u9fff]+"),
            re.compile("[" + "".join(map(chr, table)) + "]") if table else re.compile("(?!)"),
        )

    @classmethod
    def for_text(cls, text: str) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
        """The patterns, compiled first if `text` is long; None for a short text before that."""
        return cls.compiled() if cls.patterns is None and len(text) > _SHORT else cls.patterns


def opencc_t2s_pairs() -> str:
    """Each ideograph of _HAN_RANGES that OpenCC's standard `t2s` converts on its own, followed by
    the one character it converts it to, in code point order: bot/t2s_table.py's PAIRS.

    One character at a time, not OpenCC's phrase conversion: a per-character map keeps every
    substring a substring (folding a text and a query the same way never loses a match), which a
    phrase table that converts 乾 in one word and keeps it in another would not. OpenCC (the
    `opencc` package) is a dev dependency: the bot reads the table this made.
    """
    import opencc  # noqa: PLC0415 - a dev dependency, for `python -m bot.text` and the tests

    converter = opencc.OpenCC("t2s")
    chars = "".join(map(chr, itertools.chain.from_iterable(range(a, b + 1) for a, b in _HAN_RANGES)))
    converted = str(converter.convert(chars))
    if len(converted) == len(chars):
        pairs = [(a, b) for a, b in zip(chars, converted, strict=True) if a != b]
    else:  # a phrase matched across neighbours: ask one character at a time
        pairs = []
        for char in chars:
            one = str(converter.convert(char))
            if one != char and len(one) == 1:
                pairs.append((char, one))
    return "".join(a + b for a, b in pairs)


_PAIRS_PER_LINE = 25  # 50 ideographs, 100 columns: within the line length


def t2s_table_source(pairs: str) -> str:
    """bot/t2s_table.py holding `pairs`."""
    step = 2 * _PAIRS_PER_LINE
    lines = "".join(f'    "{pairs[i : i + step]}"\n' for i in range(0, len(pairs), step))
    return (
        '"""Traditional Chinese to Simplified, one ideograph at a time (bot/text.py\'s `simplified`):\n'
        "each Traditional character followed by its Simplified one, in code point order.\n\n"
        "Made by `python -m bot.text` from OpenCC's standard t2s dictionary (`opencc_t2s_pairs`); do\n"
        "not edit. tests/test_text.py fails when it differs from what the installed OpenCC gives.\n"
        '"""\n\n'
        "PAIRS = (\n" + lines + ")\n"
    )


def _write_t2s_table() -> int:
    """`python -m bot.text`: write bot/t2s_table.py from the installed OpenCC, if it changed."""
    try:
        pairs = opencc_t2s_pairs()
    except ImportError as exc:
        sys.stderr.write(f"python -m bot.text needs OpenCC ({exc}): pip install -e '.[dev]'\n")
        return 1
    source = t2s_table_source(pairs)
    if T2S_TABLE_FILE.exists() and T2S_TABLE_FILE.read_text(encoding="utf-8") == source:
        sys.stdout.write(f"{T2S_TABLE_FILE}: up to date ({len(pairs) // 2} characters)\n")
        return 0
    T2S_TABLE_FILE.write_text(source, encoding="utf-8")
    sys.stdout.write(f"{T2S_TABLE_FILE}: written ({len(pairs) // 2} characters)\n")
    return 0


def prepare_folding() -> None:
    """Compile the patterns that fold fast (`_Fast`) now: for a process that will fold many texts
    (the bot), rather than leaving them to the first long one."""
    _Fast.compiled()


def simplified(text: str) -> str:
    """`text` with Traditional Chinese characters as Simplified (英偉達 -> 英伟达), one by one."""
    if text.isascii():
        return text
    table = _t2s_table()
    fast = _Fast.for_text(text)
    if fast is None:
        return text.translate(table)
    return fast[1].sub(lambda match: chr(table[ord(match.group())]), text)


def _width_and_case(text: str) -> str:
    """`fold` but for Traditional Chinese: NFKC and casefold."""
    fast = _Fast.for_text(text)
    if fast is None:
        return unicodedata.normalize("NFKC", text).casefold()
    return _nfkc_by_runs(text, fast[0])


def _nfkc_by_runs(text: str, not_stable: re.Pattern[str]) -> str:
    """NFKC and casefold, normalising only the runs `not_stable` finds (`_Fast`)."""
    parts: list[str] = []
    done = 0
    for run in not_stable.finditer(text):
        start = max(run.start() - 1, done)
        parts.append(text[done:start])
        parts.append(unicodedata.normalize("NFKC", text[start : run.end()]))
        done = run.end()
    if not parts:
        return text.casefold()
    parts.append(text[done:])
    return "".join(parts).casefold()


def fold(text: str) -> str:
    """The matching form of text: NFKC (full/half width), casefold (Latin case), and Traditional
    Chinese as Simplified (`simplified`), so readers in Taiwan and Hong Kong find what they type."""
    return simplified(_width_and_case(text))


@functools.lru_cache(maxsize=4096)  # the same few categories and tags, over and over
def label_key(text: str) -> str:
    """A category, tag or topic for comparison: width, case and spaces do not matter
    (`ai日报` is `AI 日报`)."""
    return simplified(_unconverted_key(text))


@functools.lru_cache(maxsize=4096)
def _unconverted_key(text: str) -> str:
    """`label_key` but for Traditional Chinese."""
    return "".join(_width_and_case(text).split())


# What `simplified` makes of an ideograph of _HAN_RANGES is another one of them, or one of the
# supplementary planes (extension B and after); tests/test_posts.py checks it on the table.
SUPPLEMENTARY_IDEOGRAPHS = 0x20000


def _converts(char: str) -> bool:
    """`simplified` may change `char`: one of the ideographs of _HAN_RANGES."""
    return any(first <= ord(char) <= last for first, last in _HAN_RANGES)


def _may_be_converted(char: str) -> bool:
    """`simplified` may make `char` out of another: an ideograph (of _HAN_RANGES or past U+20000)."""
    return ord(char) >= SUPPLEMENTARY_IDEOGRAPHS or _converts(char)


def same_label(a: str, b: str) -> bool:
    """`label_key(a) == label_key(b)`, converting Traditional Chinese only when it can matter.

    The conversion (`simplified`) turns one character into one and touches only ideographs: two
    keys equal before it are equal after it; two that differ in length differ after it; and so do
    two that differ at a place where neither character could become the other (`技` and `a`). A
    post's H1 and its title, and its category and the daily one, are so compared without the
    conversion table: `check` and `preview` never read it.
    """
    key_a, key_b = _unconverted_key(a), _unconverted_key(b)
    if key_a == key_b:
        return True
    if len(key_a) != len(key_b):
        return False
    for x, y in zip(key_a, key_b, strict=True):
        if x != y and not (
            (_converts(x) and _may_be_converted(y)) or (_converts(y) and _may_be_converted(x))
        ):
            return False
    return simplified(key_a) == simplified(key_b)


def normalize(text: str) -> str:
    """The form both search engines match in: one line, single spaces, then folded. Folding may
    add a space (NFKC makes "￣" a space and a combining macron), so the text can hold two in a
    row; a query term, folded and then given single spaces (`search.search_form`), then matches
    in the index exactly what it matches in the scan's folded text (`search._Folded`)."""
    return fold(shown_text(text))


# -- Markdown as a reader sees it -----------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*(?:```|~~~).*$", re.MULTILINE)
# Only the HTML a blog post uses for layout; `<String>` or `<field>` in code samples is content.
# The lookahead fails at once on a `<` not followed by a letter, which keeps runs of `<` cheap.
_HTML_TAG = re.compile(
    r"<(?=/?[A-Za-z])/?(?:a|abbr|b|br|center|details|div|em|figure|figcaption|font|hr|i|iframe|img|kbd|p"
    r"|picture|source|span|strong|sub|summary|sup|u|video)\b[^<>]*>",
    re.IGNORECASE,
)
# [text](url), ![alt](url), with one level of parentheses inside the URL (Wikipedia links). The
# text holds no bracket, so every attempt stops at the next one: linear time on runs of `[`.
_INLINE_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\((?:[^()\n]|\([^()\n]*\))*\)")
_REF_LINK = re.compile(r"!?\[([^\[\]\n]+)\]\[[^\[\]\n]*\]")
# `[id]: url "title"` lines; a footnote `[^id]: text` is prose and keeps its text.
_REF_DEFINITION = re.compile(
    r"^[ \t]{0,3}\[(?!\^)[^\]\n]+\]:[ \t]*\S+(?:[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\)))?[ \t]*$",
    re.MULTILINE,
)
_FOOTNOTE_MARK = re.compile(r"\[\^[^\[\]\n]+\]:?")
_AUTOLINK = re.compile(r"<(?:https?|mailto|ftp):[^<>\s]*>", re.IGNORECASE)
# Bare URLs, ASCII only: Chinese text often follows a URL with no space in between.
_BARE_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]+")
# Runs of blanks are possessive (`*+`): what follows them is never a blank, so they match the
# same lines, but a long run that fails to match is not split every way (quadratic) on the way out.
_RULE = re.compile(r"^[ \t]*+([-*_])(?:[ \t]*+\1){2,}[ \t]*+$", re.MULTILINE)
_TABLE_RULE = re.compile(
    r"^[ \t]*+\|?[ \t]*+:?-++:?[ \t]*+(?:\|[ \t]*+:?-++:?[ \t]*+)++\|?[ \t]*+$", re.MULTILINE
)
# The characters strip_inline acts on: tags, links, "://", emphasis and code marks, "~~", "&".
_INLINE_MARKUP = re.compile(r"[<\[\]:*`~&]")
_LINE_MARKUP = re.compile(r"^[ \t]*(?:>[ \t]?)*(?:#{1,6}[ \t]+|[-*+][ \t]+)?", re.MULTILINE)


def _drop_comments(text: str) -> str:
    """`<!-- ... -->` replaced by a space. Found with str.find, not a lazy regex: a regex retries
    from every unclosed `<!--`, which is quadratic on a run of them."""
    parts: list[str] = []
    done = 0
    while (start := text.find("<!--", done)) != -1:
        end = text.find("-->", start + 4)
        if end == -1:
            break  # unclosed: it and everything after is text
        parts.append(text[done:start])
        parts.append(" ")
        done = end + 3
    if not parts:
        return text
    parts.append(text[done:])
    return "".join(parts)


def strip_inline(markdown: str) -> str:
    """Inline Markdown (a line, a heading, a bullet) as a reader sees it: link and image text kept,
    URLs and layout HTML dropped, emphasis and code marks gone, `&amp;` and the like as the
    character they stand for. Line breaks are kept; nothing spans them.

    `__` stays: in this blog it is Python's `__init__`, never emphasis.
    """
    # Each pattern runs only when the text holds what it needs to match (a C-speed `in` test):
    # most lines have no link or URL, and skipping is most of the time on long posts. A line
    # with none of the characters any step acts on, as most summary bullets, is as it is.
    if not _INLINE_MARKUP.search(markdown):
        return markdown
    text = _HTML_TAG.sub(" ", markdown) if "<" in markdown else markdown
    if "](" in text:
        text = _INLINE_LINK.sub(r"\1", text)
    if "][" in text:
        text = _REF_LINK.sub(r"\1", text)
    if "[^" in text:
        text = _FOOTNOTE_MARK.sub("", text)
    if "://" in text:
        text = _AUTOLINK.sub(" ", text)
        text = _BARE_URL.sub(" ", text)
    text = text.replace("*", "").replace("`", "").replace("~~", "")
    if "&" in text:
        text = html.unescape(text)  # `&nbsp;`, `&amp;` are what Markdown shows as one character
    return text


def strip_markdown(markdown: str) -> str:
    """A Markdown body as the words a reader sees, line breaks kept: code fences, comments, link
    definitions, rules, table rules and line markup (`#`, `>`, `- `) dropped, a table's `|` as a
    space so cells stay apart, and each line as `strip_inline` reads it."""
    text = _FENCE.sub("", markdown) if "```" in markdown or "~~~" in markdown else markdown
    text = _drop_comments(text)
    if "]:" in text:
        text = _REF_DEFINITION.sub("", text)
    text = _RULE.sub("", text)
    if "|" in text:
        text = _TABLE_RULE.sub("", text).replace("|", " ")
    text = _LINE_MARKUP.sub("", text)
    return strip_inline(text)


# A post's body is made plain by the quality gate, the search index and the scan in turn, and
# again for each search hit's snippet (the index keeps no body): the last 512 bodies are
# remembered, a few MB (a str keeps its hash, so a hit costs a dict lookup).
@functools.lru_cache(maxsize=512)
def plain_text(markdown: str) -> str:
    """`strip_markdown` on one line: what search matches and snippets show, and what the quality
    gate measures. A snippet never shows `**` or a URL, and a search never matches inside one."""
    return shown_text(strip_markdown(markdown))


if __name__ == "__main__":
    sys.exit(_write_t2s_table())
