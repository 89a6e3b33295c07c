"""The animated sweep claims its memory on the server's ledger while it renders, gives the claim back when
it ends, and keeps the file it made for this user, counted on the ledger."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from explorer.animation import SweepSettings, layer_sweep
from explorer.charts.journey import journey_chart, journey_frames
from explorer.charts.layer_slider import without_play_input
from explorer.export import LayerChartExport, chart_spec
from explorer.projection import project
from explorer.states import layer_names
from explorer.ui import exports, memory


@dataclass(frozen=True)
class _Watched(LayerChartExport):
    """A chart export that notes, whenever a frame's title is asked for, whether a sweep claim is held."""

    seen: list | None = None

    def title(self, layer_label: str) -> str:
        self.seen.append(any(c.name == exports.SWEEP for c in memory.ledger().claims()))
        return super().title(layer_label)


def test_the_sweep_renders_under_a_claim_and_keeps_its_file_on_the_ledger(bank_states) -> None:
    proj = project(bank_states.layers, "pca_shared", pooled=bank_states.pooled_raw)
    names = layer_names(6)
    points, pooled = journey_frames(bank_states.tokens, bank_states.texts, proj, names)
    prov = {
        "page": "Token journey", "model_id": "m", "model": "M", "weights_fingerprint": "f" * 64,
        "sentences": list(bank_states.texts), "settings": {}, "created": "2026-12-05", "app_version": "0",
        "share_link": "",
    }  # fmt: skip
    seen: list[bool] = []
    source = _Watched(
        chart_spec(without_play_input(journey_chart(points, pooled, 0))), tuple(names[:3]), "Token journey",
        "M", prov, "token_journey", seen,
    )  # fmt: skip
    exports._make_sweep(layer_sweep(source, SweepSettings(width=400)), "GIF", "http://x/?v=1")
    assert seen == [True, True, True]  # every frame was drawn under the claim
    assert not [c for c in memory.ledger().claims() if c.name == exports.SWEEP]  # it ended with the work
    made = memory.held(exports.SWEEP)
    assert isinstance(made, exports.MadeSweep) and made.link == "http://x/?v=1"
    assert Image.open(io.BytesIO(made.data)).n_frames == 3
    before = memory.ledger().total_bytes
    memory.release(exports.SWEEP)
    assert before - memory.ledger().total_bytes >= len(made.data)  # the file was counted
