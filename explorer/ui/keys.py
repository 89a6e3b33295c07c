"""The session-state keys more than one module reads, each with the page or part that owns it.

A key one module alone reads stays a literal in that module (it owns it). A key read elsewhere is named
here, so a renamed key cannot leave a reader behind; `tests/test_session_keys.py` fails on a key literal
that two modules write. The Fine-tune page's keys are in `ui/finetune/keys.py`.
"""

from __future__ import annotations

# Every page: the sidebar (ui/widgets.py) and the shared sentence box. A link fills them (ui/links.py);
# lesson cards and their measures read them before the page below them runs.
MODEL_BOX = "model_box"  # the sidebar's model box, as typed (a link's model_id fills it)
MODEL_ID = "model_id"  # the model the sidebar loaded for this run (not a widget)
SENTENCES = "sentences"  # the sentence box, shared by the Token journey, Sentence embedding and Geometry lab
SENTENCE_SET = "sentence_set"  # the preset picker above it

# Geometry lab (ui/geometry.py owns them; the page and the lab's lesson measures read them)
GEOMETRY_SOURCE = "geometry_source"  # measure over the bundled corpus or the typed sentences
GEOMETRY_UMAP = "geometry_umap"  # whether the lab's picture is a UMAP
SENSE_WORD = "sense_word"  # ui/senses.py: the word whose senses are measured
SENSE_OWN_WORD = "sense_own_word"  # ... or the user's own word


def sense_text(word: str) -> str:
    """ui/senses.py: the contexts typed for one word of the sense picker (each word keeps its own)."""
    return f"sense_text_{word}"


# Sentence embedding's index (ui/index.py owns them; a link fills them through ui/sentence.py)
INDEX_QUERY = "index_query"
INDEX_K = "index_k"

# Token journey (ui/journey/controls.py draws their widgets; its link, chart, lessons and boxes read them)
FOLLOW = "follow"  # the tokens whose paths are drawn
LAYER = "layer"  # the layer shown: the chart's own slider (not a widget), kept across reruns
PROJECTION = "projection"
SEED = "seed"  # UMAP's seed
HIDE_SPECIAL = "hide_special"
HIDE_PUNCT = "hide_punct"
FIT_FOLLOWED = "fit_followed"  # axes fitted on the followed tokens
LABELS = "labels"
PATHS = "paths"
WHY_LINES = "why_lines"  # "Why did it move?" lines on the chart
WHY_BY = "why_by"  # ... drawn from the exact split or from attention
MEANING_HERE = "meaning_here"  # the "What does it mean here?" box, open
