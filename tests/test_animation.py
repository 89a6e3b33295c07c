"""The animated layer sweep: its frames follow Play's glide, carry the title line, and encode to a looping
GIF and an H.264 MP4 that carry the export's provenance."""

from __future__ import annotations

import io

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

from explorer.animation import (
    SweepSettings,
    compiled,
    encode_gif,
    encode_mp4,
    frame_spec,
    key_steps,
    make_sweep,
    render_frames,
    snapshot_sweep,
    sweep_frames,
)
from explorer.charts.finetune import frame_between, snapshot_frame
from explorer.charts.journey import journey_chart, journey_frames
from explorer.charts.layer_slider import PLAY_PARAM, without_play_input
from explorer.export import chart_spec
from explorer.projection import project
from explorer.states import layer_names

NAMES = layer_names(6)


def test_one_frame_per_layer_and_in_between_frames_glide_forward() -> None:
    plain = sweep_frames(NAMES, SweepSettings(glide=0, seconds=1.0, hold_last=2.0))
    assert [f.position for f in plain] == [0, 1, 2, 3, 4, 5, 6]
    assert [f.label for f in plain][::6] == ["layer 0 · embeddings", "layer 6 · output"]
    assert sum(f.seconds for f in plain) == pytest.approx(8.0)  # the last layer held twice as long
    glide = sweep_frames(NAMES, SweepSettings(glide=3, seconds=1.0, hold_last=1.0))
    positions = [f.position for f in glide]
    assert len(glide) == 7 + 6 * 3 and positions == sorted(positions)
    assert positions[1:4] == pytest.approx([0.25, 0.5, 0.75])
    assert glide[1].label == "layer 0 · embeddings → 1"
    assert sum(f.seconds for f in glide) == pytest.approx(7 * 0.5 + 6 * 0.5)  # Play's pace: 1 s per layer


@pytest.mark.parametrize("bad", [{"glide": -1}, {"glide": 99}, {"seconds": 0}, {"width": 10_000}])
def test_bad_settings_say_what_is_valid(bad) -> None:
    with pytest.raises(ValueError, match="Valid"):
        SweepSettings(**bad)


@pytest.fixture(scope="module")
def sweep_spec(bank_states) -> dict:
    proj = project(bank_states.layers, "pca_shared", pooled=bank_states.pooled_raw)
    points, pooled = journey_frames(bank_states.tokens, bank_states.texts, proj, NAMES)
    return chart_spec(without_play_input(journey_chart(points, pooled, 0, highlight=[7, 46])))


def test_a_frame_sets_play_and_the_title_on_a_copy(sweep_spec) -> None:
    vega = compiled(sweep_spec)
    spec = frame_spec(vega, 2.5, "Token journey · MiniLM · layer 2 → 3", "weights 53aa")
    play = next(s for s in spec["signals"] if s["name"] == PLAY_PARAM)
    assert play["value"] == 2.5
    assert spec["title"]["text"].endswith("layer 2 → 3") and spec["title"]["subtitle"] == "weights 53aa"
    assert next(s for s in vega["signals"] if s["name"] == PLAY_PARAM)["value"] == -1
    with pytest.raises(ValueError, match=PLAY_PARAM):
        compiled({"mark": "point", "data": {"values": [{"x": 1}]}, "encoding": {"x": {"field": "x"}}})


def test_sweep_renders_gif_and_mp4_that_move_and_carry_provenance(sweep_spec, tmp_path) -> None:
    settings = SweepSettings(glide=1, seconds=0.5, width=480)
    seen = []
    images, seconds = render_frames(
        sweep_spec,
        NAMES[:3],
        settings,
        lambda label: f"Token journey · {label}",
        "sub",
        lambda done, total: seen.append((done, total)),
    )
    assert len(images) == 3 + 2 and seen == [(i, 5) for i in range(1, 6)]
    assert {im.width for im in images} == {480}
    pixels = [np.asarray(im, dtype=int) for im in images]
    assert np.abs(pixels[0] - pixels[2]).mean() > 0.5  # layer 0 and layer 1 differ
    assert np.abs(pixels[1] - pixels[0]).mean() > 0 and np.abs(pixels[1] - pixels[2]).mean() > 0  # glide

    gif = Image.open(io.BytesIO(encode_gif(images, seconds, comment="weights 53aa5117")))
    assert gif.n_frames == 5 and gif.info["loop"] == 0
    assert gif.info["comment"] == b"weights 53aa5117"
    assert gif.info["duration"] == 250  # a layer held for half of its 0.5 s, the glide the other half

    mp4 = encode_mp4(images, seconds, comment="weights 53aa5117", fps=10)
    assert mp4[4:8] == b"ftyp" and b"weights 53aa5117" in mp4
    (tmp_path / "sweep.mp4").write_bytes(mp4)
    with imageio.get_reader(tmp_path / "sweep.mp4", format="FFMPEG", mode="I") as reader:
        decoded = list(reader.iter_data())
    assert len(decoded) == sum(max(1, round(s * 10)) for s in seconds)
    assert decoded[0].shape[1] % 2 == 0 and decoded[0].shape[1] >= 480


def test_make_sweep_knows_its_formats(sweep_spec) -> None:
    with pytest.raises(ValueError, match="Valid formats"):
        make_sweep("webm", sweep_spec, NAMES, SweepSettings(), str)


def test_the_fine_tune_sweep_runs_from_the_base_geometry_to_the_tuned_head() -> None:
    assert key_steps(range(0, 301, 10)) == [0, 50, 100, 150, 200, 250, 300]
    assert key_steps([0, 5]) == [0, 5]
    rng = np.random.default_rng(0)
    base = rng.normal(size=(8, 16))
    outputs = [base + step / 10 * np.eye(8, 16) * 3 for step in (0, 5, 10)]  # the head moves the rows
    frame = snapshot_frame([0, 5, 10], outputs, [f"s{i}" for i in range(8)], ["a", "b"] * 4, [1])
    half, step = frame_between(frame, 0, 5, 0.5)
    moved = half[half["step"] == step].set_index("row")
    at0, at5 = (frame[frame["step"] == s].set_index("row") for s in (0, 5))
    np.testing.assert_allclose(moved["x"], (at0["x"] + at5["x"]) / 2)
    assert step == 11 and len(moved) == 8

    prov = {
        "page": "Fine-tune", "model_id": "m", "model": "M", "weights_fingerprint": "f" * 64,
        "sentences": ["s0"], "settings": {"rank": 8}, "created": "2026-12-05", "app_version": "0",
        "share_link": "",
    }  # fmt: skip
    job = snapshot_sweep(frame, SweepSettings(glide=1, width=360), "Fine-tune · M", prov, "fine_tune")
    assert len(job.seconds) == 3 + 2 and job.stem == "fine_tune" and "rank=8" in job.comment
    images = list(job.frames(None))
    assert {im.width for im in images} == {360}
    base_frame, glide, step5 = (np.asarray(images[i], dtype=int) for i in (0, 1, 2))
    assert np.abs(base_frame - step5).mean() > np.abs(base_frame - glide).mean() > 0  # glide: on the way
    assert Image.open(io.BytesIO(job.make("gif"))).n_frames == 5
