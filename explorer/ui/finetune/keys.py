"""Every session-state key, widget key and memory-ledger name the Fine-tune page owns, in one place."""

from __future__ import annotations

# On the server's memory ledger (ui/memory.py), one of each per session
RUN = "ft_run"  # the trained (or loaded) head's view: FineTuneView
TUNED = "ft_tuned"  # the private copy tuned by ui/tuning.py and its picture

# The labelled table
ROWS = "ft_rows"  # the table as last edited
BASE = "ft_base"  # the rows a fresh table editor starts from
VERSION = "ft_table_version"  # a new version is a fresh editor (a preset, a loaded head, a link)
PRESET = "ft_preset"  # the Labelled set picker
HELD_OUT_OPEN = "ft_held_out_open"  # the Held-out sentences box, open (folded, the page draws no table)

# Widgets of the settings, the picture and the head files
RANK = "ft_rank"
STEPS = "ft_steps"
LR = "ft_lr"
SEED = "ft_seed"
STEP = "ft_step"  # the Training step slider: the snapshot shown
UPLOAD = "ft_upload"  # the Load a head box
TOP_K = "ft_k"  # ui/tuning.py: how many top layers of the private copy are tuned

# Waiting for the next run
PENDING = "ft_pending_head"  # an uploaded head, rebuilt over its table on the next run
UPLOAD_MESSAGE = "ft_upload_message"  # what the upload box says once, after an upload
LINK_STEP = "ft_link_step"  # a trained link's step, shown once Train is pressed
TABLE_PART = "table"  # a link's long table: held (see links.hold) until Train or the notice's button


def table_editor(version: int) -> str:
    """The table editor's widget key: each version of the table is a fresh editor."""
    return f"ft_table_{version}"
