"""What does it mean here? The corpus, its index of every layer, the neighbours and their exact similarities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import chart_specs, open_page

from explorer import meaning, meaning_emergence
from explorer.assets import stopwords
from explorer.models import DEFAULT_MODEL_ID
from explorer.states import extract_states, find_word

# Two synsets in WordNet's data-file format (offset, file number, part, word count in hex, words, pointers,
# then ' | ' and the gloss with its quoted examples): written for this test.
WORDNET_LINES = [
    "  1 This software and database is being provided to you, the LICENSEE, by Princeton University",
    '09213565 17 n 02 bank 0 riverside 0 000 | sloping land beside water; "they pulled the canoe up on'
    ' the bank"; "the bank was steep and muddy"; "he was tired"',
    '08420278 14 n 01 bank 0 000 | a financial institution; "he cashed a cheque at the bank"; "too short"',
]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> meaning.MeaningCorpus:
    folder = tmp_path_factory.mktemp("wordnet")
    (folder / "data.noun").write_text("\n".join(WORDNET_LINES) + "\n", encoding="latin-1")
    return meaning.meaning_corpus(str(folder))


@pytest.fixture(scope="module")
def small_index(model, small_corpus, tmp_path_factory) -> meaning.MeaningIndex:
    folder = meaning.index_folder("f" * 64, small_corpus, tmp_path_factory.mktemp("cache"))
    steps = []
    built = meaning.build_index(model, "f" * 64, small_corpus, folder, lambda d, n: steps.append((d, n)), 128)
    assert steps[-1] == (len(small_corpus.texts), len(small_corpus.texts)) and len(steps) > 1
    return built


def test_wordnet_examples_are_tagged_with_their_synsets_sense(small_corpus) -> None:
    wordnet = [i for i, source in enumerate(small_corpus.sources) if source == "WordNet"]
    texts = {small_corpus.texts[i]: (small_corpus.lemmas[i], small_corpus.senses[i]) for i in wordnet}
    assert texts == {
        "they pulled the canoe up on the bank": ("bank", "noun: sloping land beside water"),
        "the bank was steep and muddy": ("bank", "noun: sloping land beside water"),
        "he cashed a cheque at the bank": ("bank", "noun: a financial institution"),
    }, "examples without the synset's word ('he was tired') or too short are left out"
    assert len(set(small_corpus.texts)) == len(small_corpus.texts)


def test_the_index_keeps_every_layer_of_the_content_words(model, small_corpus, small_index) -> None:
    index = small_index
    assert index.vectors.dtype == np.float16 and isinstance(index.vectors, np.memmap)
    assert index.vectors.shape[0] == 7 and index.vectors.shape[2] == 384
    assert index.n_tokens > 1_000 and index.meta["tokens"] == index.n_tokens
    # independently: every sentence run through the model, the content words picked, each layer's statistics
    states = extract_states(model, small_corpus.texts)
    keep = meaning.content_mask(states.tokens, stopwords())
    assert int(keep.sum()) == index.n_tokens
    words = states.tokens[keep]["text"].tolist()
    assert list(index.words) == words and not {w.lower() for w in words} & stopwords()
    layers = states.layers[:, keep, :].astype(np.float64)
    np.testing.assert_allclose(index.mean, layers.mean(axis=1), atol=1e-6)
    spread = layers.std(axis=1)
    flat = spread < 1e-6 * np.median(spread, axis=1, keepdims=True)
    assert 0 < flat.sum() <= 8 and not flat[:-1].any(), (
        "a few output dimensions never vary (LayerNorm weight 0)"
    )
    assert np.isinf(index.scale[flat]).all(), "left out of the standardised cosine"
    np.testing.assert_allclose(index.scale[~flat], spread[~flat], rtol=1e-5)
    np.testing.assert_allclose(index.vectors[3], layers[3], atol=2e-2 * np.abs(layers[3]).max())
    # the same model and corpus read back; another corpus is not this index
    assert meaning.read_index(index.folder, small_corpus) is not None
    other = meaning.MeaningCorpus(("Another text.",), ("project",), ("",), ("",))
    assert meaning.read_index(index.folder, other) is None


def test_neighbours_rank_by_similarity_and_leave_the_query_sentence_out(model, small_index) -> None:
    text = "They pulled the canoe up on the bank"
    states = extract_states(model, [text.lower()])
    row = find_word(states.tokens, 0, "bank")[0]
    query = states.layers[6, row]
    found = meaning.nearest(small_index, query, 6, 5)
    assert found[0].word == "bank" and found[0].similarity > 0.99, "the same sentence is in the corpus"
    kept = meaning.nearest(small_index, query, 6, 5, skip_sentences=[text.lower()])
    assert all(small_index.corpus.texts[n.sentence] != text.lower() for n in kept)
    assert [n.similarity for n in kept] == sorted((n.similarity for n in kept), reverse=True)
    others = meaning.nearest(small_index, query, 6, 5, skip_word="bank", distinct=True)
    assert len({n.word.lower() for n in others}) == 5 and not {"bank", "banks"} & {
        n.word.lower() for n in others
    }


def test_every_similarity_shown_matches_numpy_within_1e5(model, small_index) -> None:
    """The page's table: each neighbour's similarity against an independent computation from the neighbour
    sentence's own run through the model, standardised with statistics computed independently."""
    from explorer.ui.journey.meaning import neighbours
    from explorer.ui.journey.view import make_journey

    sentences = ("We sat on the grassy bank of the river.", "She deposited her salary at the bank.")
    view = make_journey(DEFAULT_MODEL_ID, sentences, (), "pca_shared", 0, False, False)
    uid = find_word(view.states.tokens, 0, "bank")[0]
    corpus_states = extract_states(model, small_index.corpus.texts)
    keep = meaning.content_mask(corpus_states.tokens, stopwords())
    layers = corpus_states.layers[:, keep, :].astype(np.float64)
    mean, scale = layers.mean(axis=1), layers.std(axis=1)
    scale[scale < 1e-6 * np.median(scale, axis=1, keepdims=True)] = np.inf  # dimensions that never vary
    for standardised in (True, False):
        found = neighbours(view, uid, small_index, DEFAULT_MODEL_ID, standardised, own=True)
        assert {f.layer for f in found} == set(range(7)) and {f.kind for f in found} == {"other", "same"}
        assert any(f.screen_row >= 0 for f in found), "the sentences on screen are searched too"
        for f in found:
            if f.screen_row >= 0:
                other = view.states.layers[f.layer, f.screen_row]
            else:
                alone = extract_states(model, [small_index.corpus.texts[f.corpus_sentence]])
                other = alone.layers[f.layer, f.position]
            a, b = view.states.layers[f.layer, uid].astype(np.float64), other.astype(np.float64)
            if standardised:
                a, b = (a - mean[f.layer]) / scale[f.layer], (b - mean[f.layer]) / scale[f.layer]
            assert abs(f.similarity - a @ b / np.linalg.norm(a) / np.linalg.norm(b)) < 1e-5


def test_the_panel_builds_its_index_on_a_click_and_shows_every_layer(tmp_path: Path, monkeypatch) -> None:
    from explorer.ui import jobs

    (tmp_path / "wordnet").mkdir()
    monkeypatch.setenv(meaning.WORDNET_ENV, str(tmp_path / "wordnet"))  # the project's sentences only
    monkeypatch.setenv(meaning.CACHE_ENV, str(tmp_path / "cache"))
    at = open_page("pages/1_Token_journey.py")
    assert not at.dataframe, "folded: nothing is built or shown"
    at.session_state["meaning_here"] = True
    at.run(timeout=120)
    assert not at.exception and not at.dataframe
    assert not (tmp_path / "cache").exists(), "opening the box builds nothing: the button does"
    at.button(key="meaning_build").click().run(timeout=120)
    for future in jobs.unfinished():
        future.result(timeout=300)
    at.run(timeout=120)
    assert not at.exception
    at_layer, table = [d.value for d in at.dataframe]
    assert len(table) == 7 and table.columns[1] == "nearest other words"
    assert table.iloc[6, 1] and "«bank»" in table.iloc[6, 2]
    heads = [m.value for m in at.markdown if m.value.startswith("**At layer")]
    assert len(heads) == 1 and heads[0].startswith("**At layer 6 · output**"), "it leads with the chart's"
    assert list(at_layer.columns) == ["neighbour", "in its sentence", "similarity"]
    first = table.iloc[6, 1].split(" · ")[0].rsplit(" ", 1)[0]
    assert at_layer.iloc[0, 0] == first and f"«{first}»" in at_layer.iloc[0, 1].lower()
    assert at_layer.iloc[-1, 0].endswith("(same word)") and "«bank»" in at_layer.iloc[-1, 1]
    at.session_state["_keep_layer"] = 2  # the chart's slider moved (the page learns it in one rerun)
    at.run(timeout=120)
    at_layer, table = [d.value for d in at.dataframe]
    [head] = [m.value for m in at.markdown if m.value.startswith("**At layer")]
    assert head.startswith("**At layer 2**")
    assert at_layer.iloc[0, 0] == table.iloc[2, 1].split(" · ")[0].rsplit(" ", 1)[0]
    captions = " ".join(c.value for c in at.caption)
    assert "content words" in captions and "Random pairs" in captions.replace("'", "")
    assert str(tmp_path) not in captions, "no server path is shown"


def test_the_lab_shows_where_meaning_emerges_against_chance(small_index) -> None:
    """On the project's word senses (and the test's WordNet lines): at the output, a use's nearest uses of
    its word carry its sense far more often than chance, and at layer 0 its nearest word is itself."""
    frame = meaning_emergence.sense_agreement(small_index, k=3)
    assert list(frame["layer"]) == list(range(7)) and frame["words"].iloc[0] >= 5
    last = frame.iloc[-1]
    assert last["agreement"] > last["chance"] + 0.2
    assert frame["same_word"].iloc[0] > 0.9, "at layer 0 a word's nearest token is the same word"
    raw = meaning_emergence.sense_agreement(small_index, k=3, standardised=False)
    assert (raw["chance"] == frame["chance"]).all(), "chance does not depend on the measure"


def test_the_geometry_lab_draws_the_emergence_curves_after_its_build_button(tmp_path, monkeypatch) -> None:
    from explorer.ui import jobs

    monkeypatch.setenv(meaning.CACHE_ENV, str(tmp_path / "cache"))
    at = open_page("pages/4_Geometry_lab.py")
    at.session_state["meaning_lab"] = True
    at.run(timeout=120)
    assert not at.exception and not (tmp_path / "cache").exists()
    at.button(key="meaning_build_lab").click().run(timeout=120)
    for future in jobs.unfinished():
        future.result(timeout=300)
    at.run(timeout=120)
    assert not at.exception
    lines = [c for c in chart_specs(at) if any("share" in d.columns for d in c["datasets"].values())]
    assert lines, "the emergence chart is drawn"
    rows = next(d for d in lines[0]["datasets"].values() if "share" in d.columns)
    assert set(rows["key"]) == {"agreement", "chance", "same_word"} and rows["share"].between(0, 1).all()
    assert any("sense-tagged uses" in c.value for c in at.caption)


def test_make_run_builds_the_bundled_index_once(tmp_path: Path, monkeypatch, capsys) -> None:
    """`python -m explorer.meaning_ahead` (run by `make run`) builds the index the server reads; run again,
    it finds it from the stored model card without loading the weights."""
    from explorer import meaning_ahead
    from explorer.ui import meaning_index
    from explorer.ui.caches import cached_model_info

    (tmp_path / "wordnet").mkdir()
    monkeypatch.setenv(meaning.WORDNET_ENV, str(tmp_path / "wordnet"))
    monkeypatch.setenv(meaning.CACHE_ENV, str(tmp_path / "cache"))
    assert meaning_ahead.main() == 0
    assert "The meaning index:" in capsys.readouterr().out
    assert meaning_index.ready(cached_model_info(DEFAULT_MODEL_ID)) is not None, "where the server looks"

    def no_weights(*_):
        raise AssertionError("the check must not load the model")

    monkeypatch.setattr(meaning_ahead, "load_model", no_weights)
    assert meaning_ahead.main() == 0
    assert "built already" in capsys.readouterr().out
