"""One Token journey chart as one value: everything its view is computed from and everything it is drawn
with. The server-wide chart cache is keyed by this value and the drawing is made from it, so a field
can never be left out of one of them (adding a field is one line here)."""

from __future__ import annotations

from dataclasses import astuple, dataclass


@dataclass(frozen=True)
class JourneyRequest:
    # the view: what the projection is computed from
    model_id: str
    texts: tuple[str, ...]
    groups: tuple[str, ...]
    method: str
    seed: int
    hide_special: bool
    hide_punct: bool
    fit_on: tuple[int, ...]  # token rows the axes were fitted on (empty: every token shown, or group axes)
    # the drawing
    follow: tuple[int, ...]
    paths: str
    labels: bool
    readout: bool  # the full-space readout is drawn (False while a lesson hides it)
    classroom: bool
    presenter: bool
    height: int  # px: shorter while a lesson card shares the presenter's screen
    why: str = ""  # lines to each followed token, ranked by the split's "parts" or by "attention" ("": none)

    @property
    def key(self) -> tuple:
        """The cache key: every field, in order."""
        return astuple(self)
