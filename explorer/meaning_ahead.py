"""The bundled model's meaning index, built ahead of the first visit (`make run` does it once).

    python -m explorer.meaning_ahead

writes the index of `explorer.meaning` for the bundled model and this machine's corpus (the project's
sentences, and WordNet's examples when Debian's `wordnet-base` is installed) into the cache folder the
server reads (`LSE_CACHE_DIR`, else the user's cache), and says where and how big. When the index is there
already it only says so: the check reads the stored model card's fingerprint, not the weights. A server
without it (Community Cloud runs no `make`) builds it on a visitor's click instead.
"""

from __future__ import annotations

import sys
import time

from explorer.meaning import build_index, index_folder, meaning_corpus, read_index
from explorer.models import DEFAULT_MODEL_ID, load_model, weights_fingerprint
from explorer.precomputed import shipped


def main() -> int:
    corpus = meaning_corpus()
    stored = shipped()
    if stored is not None:
        found = read_index(index_folder(stored.info.fingerprint, corpus), corpus)
        if found is not None:
            print(f"The meaning index is built already ({found.n_tokens:,} words, "
                  f"{found.nbytes_on_disk / 2**20:.0f} MB).")  # fmt: skip
            return 0
    model = load_model(DEFAULT_MODEL_ID)
    fingerprint = weights_fingerprint(model)
    folder = index_folder(fingerprint, corpus)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"\rBuilding the meaning index: {done:,} of {total:,} sentences", end="", flush=True)

    found = read_index(folder, corpus) or build_index(model, fingerprint, corpus, folder, progress)
    print(f"\nThe meaning index: {found.n_tokens:,} words, {found.nbytes_on_disk / 2**20:.0f} MB, "
          f"in {folder} ({time.perf_counter() - started:.0f} s).")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
