"""inputs: typed text becomes sentences with notices, and user text never renders as Markdown."""

from __future__ import annotations

import re

import pytest

from explorer import assets
from explorer.inputs import MAX_SENTENCES, escape_markdown, estimated_pieces, parse_sentences, shorten


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


@pytest.mark.model
def test_estimated_word_pieces_err_high_and_not_far_from_the_tokenizer(model) -> None:
    """The link gate's estimate against the bundled model's own tokenizer, on the corpus, the presets and
    other scripts: never far below (a heavy link must not pass as light), at most twice above."""
    texts = [
        *assets.bundled_corpus().texts[:200],
        *(s.text for s in assets.sentence_sets().values()),
        "漢字かな交じり文の例です。" * 20,
        "a." * 500,
        "Привет, как дела? Это тест на русском языке.",
        "مرحبا بكم في الاختبار الطويل",
        "Γειά σου Κόσμε, τι κάνεις σήμερα;",
        "नमस्ते दुनिया, आप कैसे हैं?",
        "Café naïve 12345 🎉🎉 — test! 3.14159",
    ]
    for text in texts:
        real = len(model.tokenizer(text, add_special_tokens=False)["input_ids"])
        assert 0.8 * real <= estimated_pieces(text) <= 2 * real + 2, text[:40]
