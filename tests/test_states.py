"""states: one forward pass gives every layer of every token, and the model's own pooled vector."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from explorer.states import (
    MAX_BATCH_TOKENS,
    TOKEN_COLUMNS,
    batches,
    default_highlight,
    extract_states,
    find_word,
    is_punctuation,
    layer_names,
    pooled_vectors,
    token_mask,
    word_pieces,
)

VARIED = [
    "The cat sat on the mat.",
    "A",
    "Interest rates rose again in March.",
    "She deposited her salary at the bank.",
    "We sat on the bank of the river and watched the boats.",
    "<script>alert('x')</script> is not a sentence.",
    "<img src=x onerror=alert(1)>",
    "Emoji with joiners: 👩‍👩‍👧 and flags 🇺🇦.",
    "日本語の文章も入力できます。",
    "مرحبا بالعالم، هذا نص من اليمين إلى اليسار.",
    "שלום עולם",
    "**Markdown** and $x^2$ LaTeX and `code`.",
    "Numbers 3.14159, 2,718 and 1e-9.",
    "ALL CAPS SENTENCE HERE!!!",
    "tabs\tand   many    spaces",
    "naïve café déjà vu — with diacritics",
    "a b c d e f g h i j k l m n o p",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism.",
    "The the the the the.",
    "Why? Because! Yes: no; maybe...",
    " ".join(["word"] * 400),
    "A long sentence about gardening, " * 30,
]


def test_pooled_equals_encode_on_varied_sentences(
    model,
) -> None:
    states = extract_states(model, VARIED)
    expected = model.encode(VARIED, convert_to_numpy=True)
    assert states.pooled.shape == expected.shape
    np.testing.assert_allclose(states.pooled, expected, atol=1e-5)
    assert any(states.truncated), "at least one sentence is over the model's 256 word pieces"


def test_truncation_is_at_max_seq_length_not_tokenizer_limit(model) -> None:
    states = extract_states(model, [" ".join(["word"] * 400), "short one"])
    lengths = states.tokens.groupby("sentence").size()
    assert lengths[0] == model.max_seq_length == 256
    assert states.truncated == (True, False)


def test_layers_equal_transformers_hidden_states(model) -> None:
    texts = ["She deposited her salary at the bank.", "Short.", "<b>bold</b> 👩‍👩‍👧 日本語"]
    states = extract_states(model, texts)
    backbone = model[0].auto_model
    tokenizer = model[0].tokenizer
    for s, text in enumerate(texts):  # one sentence at a time: no padding at all
        enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=model.max_seq_length)
        with torch.inference_mode():
            hidden = backbone(**enc, output_hidden_states=True).hidden_states  # (L+1) x (1, T, D)
        expected = torch.stack(hidden)[:, 0].numpy()  # (L+1, T, D)
        rows = (states.tokens["sentence"] == s).to_numpy()
        np.testing.assert_allclose(states.layers[:, rows], expected, atol=1e-4)
    assert states.layers.shape[0] == backbone.config.num_hidden_layers + 1


def test_pooled_raw_is_mean_of_tokens_and_final_layer_normalises_to_pooled(bank_states) -> None:
    s = bank_states
    for i in range(s.n_sentences):
        rows = s.sentence_of_token() == i
        np.testing.assert_allclose(s.pooled_raw[:, i], s.layers[:, rows].mean(axis=1), atol=1e-5)
        final = s.pooled_raw[-1, i]
        np.testing.assert_allclose(s.pooled[i], final / np.linalg.norm(final), atol=1e-6)


def test_token_table(model) -> None:
    states = extract_states(model, ["Hello world!", "👩‍👩‍👧 ok"])
    t = states.tokens
    assert list(t.columns) == list(TOKEN_COLUMNS)
    first = t[t["sentence"] == 0]
    assert first["token"].tolist() == ["[CLS]", "hello", "world", "!", "[SEP]"]
    assert first["text"].tolist() == ["[CLS]", "Hello", "world", "!", "[SEP]"]
    assert first["special"].tolist() == [True, False, False, False, True]
    assert first["position"].tolist() == [0, 1, 2, 3, 4]
    assert first["word_id"].isna().tolist() == [True, False, False, False, True]
    second = t[t["sentence"] == 1]
    assert "[UNK]" in second["token"].tolist()
    assert "👩‍👩‍👧" in second["text"].tolist(), "unknown pieces show the characters they stand for"
    assert len(t) == states.layers.shape[1]


def test_input_order_is_kept_despite_length_batching(model) -> None:
    texts = ["a", "a much longer sentence than the others here", "mid length one", "b"]
    states = extract_states(model, texts, batch_size=2)
    singles = np.stack([extract_states(model, [t]).pooled[0] for t in texts])
    np.testing.assert_allclose(states.pooled, singles, atol=1e-5)
    assert states.tokens["sentence"].is_monotonic_increasing


def test_arrays_are_read_only(bank_states) -> None:
    with pytest.raises(ValueError):
        bank_states.layers[0, 0, 0] = 1.0


def test_progress_is_reported(model) -> None:
    seen = []
    extract_states(
        model, [f"sentence {i}" for i in range(5)], batch_size=2, progress=lambda d, n: seen.append((d, n))
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_empty_input_is_rejected(model) -> None:
    with pytest.raises(ValueError, match="at least one sentence"):
        extract_states(model, [])


def test_layer_names() -> None:
    assert layer_names(6) == ["0 · embeddings", "1", "2", "3", "4", "5", "6 · output"]
    assert layer_names(1) == ["0 · embeddings", "1 · output"]


def test_token_mask_and_punctuation(bank_states) -> None:
    t = bank_states.tokens
    no_special = token_mask(t, hide_special=True)
    assert not t[no_special]["special"].any() and no_special.sum() == (~t["special"]).sum()
    no_punct = token_mask(t, hide_punctuation=True)
    assert "." not in t[no_punct]["token"].tolist() and "." in t["token"].tolist()
    assert is_punctuation("...") and is_punctuation("##!") and not is_punctuation("bank")
    assert not is_punctuation("##")


def test_default_highlight_follows_the_repeated_word(bank_states) -> None:
    rows = default_highlight(bank_states.tokens)
    assert len(rows) == 4
    assert set(bank_states.tokens.loc[rows, "text"].str.lower()) == {"bank"}


def test_find_word_pools_pieces(model) -> None:
    states = extract_states(model, ["An antidisestablishmentarianism debate.", "no match"])
    rows = find_word(states.tokens, 0, "antidisestablishmentarianism")
    assert len(rows) > 1, "a long word is split into several pieces"
    assert "".join(states.tokens.loc[rows, "text"]) == "antidisestablishmentarianism"
    assert find_word(states.tokens, 1, "antidisestablishmentarianism") == []


def test_default_highlight_is_capped(model) -> None:
    states = extract_states(model, [f"The river number {i} is long." for i in range(20)])
    rows = default_highlight(states.tokens, limit=8)
    assert len(rows) == 8 and set(states.tokens.loc[rows, "text"]) == {"river"}


# ---------------------------------------------------------------- sentence vectors alone, bounded batches
LONG = [
    f"Line {i}: " + ", ".join(f"{w}{i % 7}" for w in "river bank money storm vault".split() * 30)
    for i in range(12)
]


def test_pooled_vectors_are_the_pooled_states_bit_for_bit(model) -> None:
    """The Fine-tune page keeps only sentence vectors; they must be exactly what `extract_states` gives
    (the proof compares them bit for bit), also over long sentences split into token-capped batches."""
    texts = VARIED + LONG
    states = extract_states(model, texts)
    np.testing.assert_array_equal(pooled_vectors(model, texts), states.pooled)
    assert pooled_vectors(model, texts).flags.writeable is False


def test_long_sentences_are_batched_under_the_token_cap(model) -> None:
    pieces = word_pieces(model, [*LONG, "short"])
    assert max(pieces) == model.max_seq_length
    made = batches([len(t) for t in [*LONG, "short"]], pieces, 32)
    assert sorted(i for batch in made for i in batch) == list(range(len(LONG) + 1))
    for batch in made:
        assert len(batch) * max(pieces[i] for i in batch) <= MAX_BATCH_TOKENS
    for batch in batches([len(t) for t in [*LONG, "short"]], pieces, 32, max_tokens=512):
        assert len(batch) * max(pieces[i] for i in batch) <= 512, "a smaller cap: the model lock's slices"
    assert batches([5, 4, 3], [10, 10, 10], 2) == [[0, 1], [2]], "short sentences: batch_size decides"


def test_states_over_capped_batches_keep_every_token_in_input_order(model) -> None:
    texts = [LONG[0], "a short one", LONG[1]]
    states = extract_states(model, texts)
    singles = [extract_states(model, [t]) for t in texts]
    for i, single in enumerate(singles):
        rows = states.sentence_of_token() == i
        np.testing.assert_allclose(states.layers[:, rows], single.layers, atol=1e-4)
        assert states.tokens[rows]["token"].tolist() == single.tokens["token"].tolist()


def test_pooled_vectors_report_progress_and_refuse_nothing(model) -> None:
    seen = []
    pooled_vectors(
        model, [f"s {i}" for i in range(5)], batch_size=2, progress=lambda d, n: seen.append((d, n))
    )
    assert seen == [(2, 5), (4, 5), (5, 5)]
    with pytest.raises(ValueError, match="at least one sentence"):
        pooled_vectors(model, [])


def test_forward_passes_from_any_thread_run_on_one_kept_thread(model) -> None:
    """Streamlit runs each script run in a new thread; the model's passes all run on one long-lived
    thread (`on_model_thread`), so PyTorch's workers are not started again for every run. Both kinds of
    pass, asked for from two fresh threads, run the backbone on the same thread, not the caller's."""
    ran_on: list[int] = []
    callers: list[int] = []
    hook = model[0].auto_model.register_forward_pre_hook(lambda *_: ran_on.append(threading.get_ident()))
    try:

        def ask(texts: tuple[str, ...]) -> None:
            callers.append(threading.get_ident())
            extract_states(model, texts)
            pooled_vectors(model, texts)

        for texts in (("A first new sentence.",), ("Another one, from another thread.",)):
            worker = threading.Thread(target=ask, args=(texts,))
            worker.start()
            worker.join()
    finally:
        hook.remove()  # the session's model is shared by the other tests: left as it was
    assert len(ran_on) == 4
    assert len(set(ran_on)) == 1
    assert not set(ran_on) & set(callers)


def test_a_small_pass_runs_on_one_math_thread_where_two_cores_are_shared(model, monkeypatch) -> None:
    """On two cores (or fewer) a pass over few word pieces takes one OpenMP thread (the other core is the
    browser's or another visitor's); a large pass, or any pass on more cores, takes the model thread's
    own count. The count is read inside the backbone as it runs."""
    import torch

    from explorer import models

    counts: list[int] = []
    hook = model[0].auto_model.register_forward_pre_hook(lambda *_: counts.append(torch.get_num_threads()))
    many = tuple(" ".join(["word"] * 200) + f" {i}" for i in range(12))  # over 2,048 pieces in all
    try:
        monkeypatch.setattr(models, "_CORES", 2)
        extract_states(model, ("A small pass.",))
        extract_states(model, many)
        monkeypatch.setattr(models, "_CORES", 8)
        extract_states(model, ("Another small pass.",))
    finally:
        hook.remove()
    default = models._DEFAULT_THREADS[0]
    assert counts[0] == 1
    assert set(counts[1:-1]) == {default}, "every batch of the large pass"
    assert counts[-1] == default
