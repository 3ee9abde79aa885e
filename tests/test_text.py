"""bot/t2s_table.py, the Traditional-to-Simplified table the bot folds with, is what OpenCC gives."""

from __future__ import annotations

import pytest

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
    assert "".join(a + b for a, b in table.items()) == t2s_table.PAIRS
    assert text.simplified("英偉達發布晶片") == "英伟达发布晶片"
    assert text.simplified("ASCII only") == "ASCII only"
