"""bot/t2s_table.py, the Traditional-to-Simplified table the bot folds with, is what OpenCC gives;
short and long texts fold alike."""

from __future__ import annotations

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


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_short_and_long_texts_fold_alike(value: str) -> None:
    """Hypothesis: a text up to `_SHORT` characters folds whole (NFKC, `str.translate`), a longer
    one by its runs and a compiled pattern; both ways give the same: padding a text with spaces
    past the threshold pads its fold with as many."""
    padding = " " * (text._SHORT + 1)
    assert text.fold(value + padding) == text.fold(value) + padding
    assert text.simplified(value + padding) == text.simplified(value) + padding
