"""Search synonyms: the default table (bot/synonyms.py) and `[search] synonyms` in the config file."""

from __future__ import annotations

import re
from pathlib import Path

import opencc
import pytest

from bot.config import MAX_NAME_LENGTH, MAX_SYNONYMS, ConfigError, load_config
from bot.synonyms import DEFAULT_SYNONYMS, Entity, by_name
from bot.text import fold

REPO = Path(__file__).resolve().parent.parent
_HAN = re.compile("[\u4e00-\u9fff]")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_entity_lists_its_own_name_first() -> None:
    """An entity's names start with its name and hold no name twice."""
    for entity in DEFAULT_SYNONYMS:
        assert entity.names[0] == entity.name
        assert len(set(entity.names)) == len(entity.names), entity.name
        assert len(entity.names) >= 2, f"{entity.name}: one name has nothing to add"


def test_by_name_finds_every_name_folded() -> None:
    """Every name of the default table, in any case or width, leads to its one entity."""
    names = by_name(DEFAULT_SYNONYMS)
    nvidia = names[fold("英伟达")]
    assert nvidia.name == "英伟达"
    assert names[fold("NVIDIA")] is nvidia
    assert names[fold("輝達")] is nvidia
    assert names[fold("ＭＩＣＲＯＳＯＦＴ")].name == "微软"
    assert all(names[fold(name)] is entity for entity in DEFAULT_SYNONYMS for name in entity.names)


def test_by_name_refuses_a_name_of_two_entities() -> None:
    """One name for two companies: a search could not tell which is meant."""
    table = (Entity("Meta", ("Meta", "脸书")), Entity("Facebook", ("Facebook", "脸书")))
    with pytest.raises(ValueError, match="脸书"):
        by_name(table)


def test_traditional_names_are_the_simplified_ones_of_the_same_entity() -> None:
    """Each Traditional name converts (OpenCC t2s) to a name of its own entity: 微軟 is 微软, and
    Taiwan's 輝達 is listed with its Simplified 辉达, which t2s alone would never make 英伟达."""
    t2s = opencc.OpenCC("t2s")
    for entity in DEFAULT_SYNONYMS:
        for name in entity.names:
            if _HAN.search(name) and (simplified := t2s.convert(name)) != name:
                assert simplified in entity.names, (entity.name, name)


def test_no_people_and_no_products() -> None:
    """Synonyms join names of one company only: no chief executive, no product (the topics do both)."""
    names = {fold(name) for entity in DEFAULT_SYNONYMS for name in entity.names}
    for left_out in (
        "黄仁勋",
        "马斯克",
        "奥特曼",
        "ChatGPT",
        "Claude",
        "Gemini",
        "Copilot",
        "Qwen",
        "豆包",
        "Llama",
    ):
        assert fold(left_out) not in names, left_out


def test_no_synonyms_section_means_the_default(tmp_path: Path) -> None:
    """No [search] section, or no file: the default table."""
    path = write(tmp_path, '[channel]\nchat = "@other"\n')
    assert load_config(path, {}).search_synonyms == DEFAULT_SYNONYMS
    assert load_config(None, {}).search_synonyms == DEFAULT_SYNONYMS


def test_example_config_ships_the_default_synonyms() -> None:
    """config.example.toml spells out exactly DEFAULT_SYNONYMS, so the two never drift apart."""
    assert load_config(REPO / "config.example.toml", {}).search_synonyms == DEFAULT_SYNONYMS


def test_synonyms_table_replaces_the_default(tmp_path: Path) -> None:
    """[search.synonyms] is the whole table, in the file's order: the key is the entity's first
    name, names trimmed and single-spaced, a repeated name once, spellings that fold alike kept."""
    path = write(
        tmp_path,
        """
[search.synonyms]
"英伟达" = ["Nvidia", " 輝達 ", "NVIDIA", "Nvidia", "英偉達"]
"Hugging  Face" = ["HuggingFace"]
OpenAI = []
""",
    )
    assert load_config(path, {}).search_synonyms == (
        Entity("英伟达", ("英伟达", "Nvidia", "輝達", "NVIDIA", "英偉達")),
        Entity("Hugging Face", ("Hugging Face", "HuggingFace")),
        Entity("OpenAI", ("OpenAI",)),
    )


def test_inline_table_is_the_same(tmp_path: Path) -> None:
    """`synonyms = { ... }` under [search] reads like the [search.synonyms] table."""
    path = write(tmp_path, '[search]\nsynonyms = { "微软" = ["Microsoft"] }\n')
    assert load_config(path, {}).search_synonyms == (Entity("微软", ("微软", "Microsoft")),)


def test_empty_synonyms_table_means_no_synonyms(tmp_path: Path) -> None:
    """An explicit empty table turns synonyms off; an empty [search] keeps the default."""
    assert load_config(write(tmp_path, "[search.synonyms]\n"), {}).search_synonyms == ()
    assert load_config(write(tmp_path, "[search]\n"), {}).search_synonyms == DEFAULT_SYNONYMS


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[search]\nsynonyms = 3\n", "[search] synonyms: expected a table of names"),
        ("[search]\nsynonyms = ['Nvidia']\n", "[search] synonyms: expected a table of names"),
        ("[search.synonyms]\nNvidia = 'NVIDIA'\n", "'Nvidia': expected an array of up to 20 names"),
        ("[search.synonyms]\nNvidia = [" + "'x'," * 21 + "]\n", "'Nvidia': expected an array of up to 20"),
        ("[search.synonyms]\nNvidia = ['英伟达', '']\n", "'Nvidia': expected non-empty names, got ''"),
        (
            "[search.synonyms]\nNvidia = ['英伟达', 3]\n",
            "'Nvidia': expected non-empty names, got 3 (integer)",
        ),
        ("[search.synonyms]\n'  ' = ['英伟达']\n", "expected non-empty names"),
        (
            "[search.synonyms]\nNvidia = ['" + "长" * (MAX_NAME_LENGTH + 1) + "']\n",
            f"a name is at most {MAX_NAME_LENGTH} characters",
        ),
        (
            "[search.synonyms]\nMeta = ['脸书']\nFacebook = ['脸书']\n",
            "'脸书' is a name of both 'Meta' and 'Facebook'; keep one",
        ),
        ("[search.synonyms]\nNvidia = []\nNVIDIA = []\n", "'NVIDIA' is a name of both 'Nvidia' and 'NVIDIA'"),
        ("[search.synonyms]\n'A  B' = []\n'A B' = []\n", "'A B' is a name of both 'A B' and 'A B'"),
        ("[search]\nsynonym = {}\n", "unknown key [search] synonym; expected one of: synonyms"),
    ],
)
def test_bad_synonyms_name_the_file_and_the_key(tmp_path: Path, toml: str, expected: str) -> None:
    """Every mistake is one line naming the file, [search] synonyms and the fix."""
    path = write(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message


def test_at_most_200_entities(tmp_path: Path) -> None:
    """200 entities load; 201 are refused with the limit in the message."""
    rows = "".join(f"'company{n}' = ['公司{n}']\n" for n in range(MAX_SYNONYMS))
    assert len(load_config(write(tmp_path, "[search.synonyms]\n" + rows), {}).search_synonyms) == 200
    path = write(tmp_path, "[search.synonyms]\n" + rows + "'one more' = []\n")
    with pytest.raises(ConfigError, match=r"\[search\] synonyms: 201 entities; at most 200 are allowed"):
        load_config(path, {})
