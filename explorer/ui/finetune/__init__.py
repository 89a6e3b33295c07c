"""Streamlit side of the Fine-tune page's head, one concept per module: its keys, the labelled table,
training and the view shown, the panels drawn, the share link and export bundle. The page uses them
through this package. (Tuning a private copy is `ui.tuning`.)

Everything a person builds here (their table, the trained head and its snapshots) belongs to that person
only: it lives in st.session_state, or under their session on the server's memory ledger. The cached
model is never modified.
"""

from explorer.ui.finetune.link import LINK, linked_training, receive_link, share_panel, wait_for_click
from explorer.ui.finetune.panels import head_files, head_view, proof_panel, separation_panel, stage
from explorer.ui.finetune.table import labelled_editor, settings, split_summary
from explorer.ui.finetune.training import current_view, train

__all__ = [
    "LINK",
    "current_view",
    "head_files",
    "head_view",
    "labelled_editor",
    "linked_training",
    "proof_panel",
    "receive_link",
    "separation_panel",
    "settings",
    "share_panel",
    "split_summary",
    "stage",
    "train",
    "wait_for_click",
]
