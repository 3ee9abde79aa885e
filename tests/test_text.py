"""bot/t2s_table.py, the Traditional-to-Simplified table the bot folds with, is what OpenCC gives;
short and long texts fold alike."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import t2s_table, text


def test_committed_t2s_table_is_opencc_t2s() -> None:
    """bot/t2s_table.py is exactly what `python -m bot.text` makes from the installed OpenCC, so
    the committed table never drifts from the dictionary it was made from; skipped without it."""
    pytest.importorskip("opencc")
    pairs = text.opencc_t2s_pairs()
    assert pairs == t2s_table.PAIRS, "the t2s table is out of date: run python -m bot.text"
    assert text.T2S_TABLE_FILE.read_text(encoding="utf-8") == text.t2s_table_source(pairs)


def test_simplified_reads_the_committed_table() -> None:
    """`simplified` converts with the committed pairs, one character into one."""
    table = text._t2s_table()
    assert "".join(chr(a) + chr(b) for a, b in table.items()) == t2s_table.PAIRS
    assert text.simplified("英偉達發布晶片") == "英伟达发布晶片"
    assert text.simplified("ASCII only") == "ASCII only"


FAST = text._Fast.build()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_texts_fold_alike_whole_or_by_the_patterns(value: str) -> None:
    """Hypothesis: a text folds the same whole (NFKC over all of it, `str.translate`: short texts
    before anything compiled the patterns) as by `_Fast`'s patterns (long texts, and every text
    after them)."""
    not_stable, traditional = FAST
    table = text._t2s_table()
    assert text._nfkc_by_runs(value, not_stable) == unicodedata.normalize("NFKC", value).casefold()
    assert traditional.sub(lambda match: chr(table[ord(match.group())]), value) == value.translate(table)


def test_only_a_long_text_compiles_the_patterns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Folding short texts (labels, queries, snippets' windows) compiles nothing; the first text
    over `_SHORT` characters compiles the fast patterns, and they stay."""
    monkeypatch.setattr(text._Fast, "patterns", None)
    assert text.fold("英偉達 ＡＩ 晶片") == "英伟达 ai 晶片"
    assert text._Fast.patterns is None
    long = "英偉達發布新晶片。" * 100
    assert text.fold(long) == "英伟达发布新晶片。" * 100
    assert text._Fast.patterns is not None
