"""inputs: typed text becomes sentences with notices, and user text never renders as Markdown."""

from __future__ import annotations

import re

import pytest

from explorer.inputs import MAX_SENTENCES, escape_markdown, parse_sentences, shorten


@pytest.mark.parametrize("raw", ["", "   ", "\n\n \t \n"])
def test_empty_input_gives_an_error_message(raw: str) -> None:
    parsed = parse_sentences(raw)
    assert parsed.sentences == () and parsed.error


def test_lines_become_sentences_blank_lines_dropped() -> None:
    parsed = parse_sentences("First one.\n\n  Second one.  \n")
    assert parsed.sentences == ("First one.", "Second one.")
    assert parsed.error is None and parsed.notices == ()


def test_too_many_lines_are_capped_with_a_notice() -> None:
    parsed = parse_sentences("\n".join(f"line {i}" for i in range(2000)))
    assert len(parsed.sentences) == MAX_SENTENCES and parsed.n_lines == 2000
    assert "2,000" in parsed.notices[0] and str(MAX_SENTENCES) in parsed.notices[0]


def test_control_characters_are_replaced() -> None:
    parsed = parse_sentences("bell\x07 and null\x00 here")
    assert parsed.sentences == ("bell  and null  here",)


def test_escape_markdown_neutralises_markup() -> None:
    text = "**bold** <script>alert(1)</script> $x^2$ [link](http://x) # head"
    escaped = escape_markdown(text)
    assert re.search(r"(?<!\\)[*$<>\[\]()#`_]", escaped) is None, "every markup character is escaped"
    assert escaped.replace("\\", "") == text


def test_shorten() -> None:
    assert shorten("short") == "short"
    cut = shorten("word " * 40, width=20)
    assert len(cut) <= 20 and cut.endswith("…")


def test_group_tags_name_groups_and_stay_out_of_the_sentence() -> None:
    raw = "[money] She paid at the bank.\nNo group here.\n[ river  bank ]We sat by the bank.\n[only a tag]\n"
    parsed = parse_sentences(raw, with_groups=True)
    assert parsed.sentences == ("She paid at the bank.", "No group here.", "We sat by the bank.")
    assert parsed.groups == ("money", "", "river bank")
    plain = parse_sentences(raw)
    assert plain.groups == () and plain.sentences[0] == "[money] She paid at the bank."
    assert parse_sentences("a\nb", with_groups=True).groups == (), "no tags, no groups"


def test_lines_of_invisible_characters_are_blank_but_joiners_inside_text_stay() -> None:
    parsed = parse_sentences("\u200b\u200b\n\ufeff \n👩\u200d👩\u200d👧 ok")
    assert parsed.sentences == ("👩\u200d👩\u200d👧 ok",)
