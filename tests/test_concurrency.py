"""One cached model serves every user of the server: concurrent calls must not disturb each other."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from explorer.index import embed_texts
from explorer.models import model_lock
from explorer.states import extract_states

# Batches of different lengths: the tokenizer pads each batch to its own longest sentence, a setting it
# keeps on the shared tokenizer object while it works.
SETS = [
    [f"Short one {i}." for i in range(6)],
    [
        f"A noticeably longer sentence number {i} about rivers, banks, money and the weather."
        for i in range(5)
    ],
    ["One.", "Two words here.", "A third sentence that runs on for quite a few more words than the rest."],
    [f"{'very ' * (i + 3)}long line {i}" for i in range(7)],
]


class _Overlap:
    """Forward hooks that record how many passes through the transformer run at the same moment."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self.guard = threading.Lock()

    def enter(self, *_args) -> None:
        with self.guard:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.002)  # widen the window in which another thread could enter

    def leave(self, *_args) -> None:
        with self.guard:
            self.now -= 1


def test_concurrent_users_get_the_same_vectors_as_one_user(model) -> None:
    expected = [extract_states(model, texts) for texts in SETS]
    expected_embeddings = [embed_texts(model, texts) for texts in SETS]

    def work(job: int):
        texts = SETS[job % len(SETS)]
        if job % 2:
            return job, embed_texts(model, texts)
        return job, extract_states(model, texts, batch_size=3)

    overlap = _Overlap()
    backbone = model[0].auto_model
    hooks = [backbone.register_forward_pre_hook(overlap.enter), backbone.register_forward_hook(overlap.leave)]
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(pool.map(work, range(60)))
    finally:
        for hook in hooks:
            hook.remove()
    assert overlap.most == 1, "one session at a time runs the shared model"
    for job, got in results:
        if job % 2:
            np.testing.assert_allclose(got, expected_embeddings[job % len(SETS)], atol=1e-5)
        else:
            want = expected[job % len(SETS)]
            assert got.tokens["token"].tolist() == want.tokens["token"].tolist()
            np.testing.assert_allclose(got.pooled, want.pooled, atol=1e-5)


def test_each_model_has_its_own_reentrant_lock(model) -> None:
    lock = model_lock(model)
    assert model_lock(model) is lock
    other = _Overlap()  # any object that can be weakly referenced
    assert model_lock(other) is not lock and model_lock(other) is model_lock(other)
    with lock, lock:  # re-entrant: code holding it may call helpers that take it again
        assert extract_states(model, ["Still works inside the lock."]).n_sentences == 1
