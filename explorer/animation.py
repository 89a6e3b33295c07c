"""The layer sweep as a moving picture for slides: GIF and MP4, drawn from the same Vega-Lite spec the
page shows.

The journey chart carries every layer, and its Play input (`layer_slider.PLAY_PARAM`) says where Play
is, in layers: 2.5 draws every point halfway from layer 2 to layer 3. A frame is that chart with the
input set: one frame per layer, and `glide` frames between two layers (the same glide as Play). The
spec is compiled to Vega once; each frame changes one signal and the title, and vl-convert draws it.
Pillow writes the GIF; imageio with imageio-ffmpeg's bundled binary writes the MP4. No Streamlit."""

from __future__ import annotations

import copy
import io
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from explorer.charts.finetune import frame_between, snapshot_chart
from explorer.charts.layer_slider import PLAY_PARAM
from explorer.export import LayerChartExport, chart_spec
from explorer.provenance import provenance_line, provenance_text

FORMATS = ("gif", "mp4")
MAX_GLIDE = 12  # in-between frames per step, at most
DEFAULT_WIDTH = 1280  # px: a slide
MAX_WIDTH = 1920
MP4_FPS = (10, 25)  # frames a second in the MP4, at least and at most: enough for its shortest frame
GIF_COLOURS = 128  # a chart's flat colours fit easily; fewer colours, a smaller file


@dataclass(frozen=True)
class SweepSettings:
    """How the sweep moves: `glide` in-between frames per step, `seconds` per layer (as Play's speed),
    the last layer held `hold_last` times as long, `width` in pixels."""

    glide: int = 0
    seconds: float = 1.2
    hold_last: float = 2.5
    width: int = DEFAULT_WIDTH

    def __post_init__(self) -> None:
        if not 0 <= self.glide <= MAX_GLIDE:
            raise ValueError(f"Invalid glide: {self.glide}. Valid: 0 to {MAX_GLIDE} in-between frames.")
        if not 0.1 <= self.seconds <= 10:
            raise ValueError(f"Invalid seconds per layer: {self.seconds}. Valid: 0.1 to 10.")
        if not 320 <= self.width <= MAX_WIDTH:
            raise ValueError(f"Invalid width: {self.width}. Valid: 320 to {MAX_WIDTH} px.")


@dataclass(frozen=True)
class Frame:
    """One frame: where Play stands (`position`, in layers), how long it shows and its title's layer."""

    position: float
    seconds: float
    label: str


def sweep_frames(layer_names: Sequence[str], settings: SweepSettings, what: str = "layer") -> list[Frame]:
    """The frames of a sweep from the first layer to the last (or the first training step to the last:
    `what` names them in the labels). Without glide each layer shows for `seconds`; with glide a layer
    shows for half of it and the in-between frames share the other half."""
    last = len(layer_names) - 1
    if last < 0:
        raise ValueError(f"A sweep needs at least one {what}.")
    frames = []
    hold = settings.seconds / 2 if settings.glide else settings.seconds
    for layer, name in enumerate(layer_names):
        frames.append(
            Frame(float(layer), hold * (settings.hold_last if layer == last else 1), f"{what} {name}")
        )
        if layer < last:
            for step in range(1, settings.glide + 1):
                frames.append(
                    Frame(
                        layer + step / (settings.glide + 1),
                        settings.seconds / 2 / settings.glide,
                        f"{what} {name} → {layer_names[layer + 1]}",
                    )
                )
    return frames


def compiled(vl_spec: dict[str, Any]) -> dict[str, Any]:
    """The Vega spec of a Vega-Lite chart that has the Play input (`PLAY_PARAM`), compiled once."""
    import vl_convert as vlc

    vega = vlc.vegalite_to_vega(vl_spec)
    if not any(s.get("name") == PLAY_PARAM for s in vega.get("signals", [])):
        raise ValueError(f"The chart has no '{PLAY_PARAM}' input: it cannot glide between layers.")
    return vega


def frame_spec(vega: dict[str, Any], position: float, title: str, subtitle: str = "") -> dict[str, Any]:
    """`vega` drawn at Play position `position`, titled `title` (a copy; `vega` is not changed)."""
    spec = copy.deepcopy(vega)
    for signal in spec["signals"]:
        if signal.get("name") == PLAY_PARAM:
            signal["value"] = float(position)
            signal.pop("bind", None)
    spec["title"] = {
        "text": title,
        "anchor": "start",
        "fontSize": 17,
        **({"subtitle": subtitle, "subtitleFontSize": 11, "subtitleColor": "#4b5563"} if subtitle else {}),
    }
    return spec


def iter_frames(
    vl_spec: dict[str, Any],
    layer_names: Sequence[str],
    settings: SweepSettings,
    title: Callable[[str], str],
    subtitle: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Image.Image]:
    """The frames of the sweep (`sweep_frames`) one at a time, each an RGB image `settings.width` px wide:
    an encoder that takes them as they come holds one at a time.

    `title(label)` is the frame's title line for its layer label ('layer 2', 'layer 2 → 3');
    `progress(done, total)` is called after each frame."""
    import vl_convert as vlc

    vega = compiled(vl_spec)
    frames = sweep_frames(layer_names, settings)
    specs = (frame_spec(vega, f.position, title(f.label), subtitle) for f in frames)
    return _drawn(specs, vlc.vega_to_png, settings.width, len(frames), progress)


def iter_spec_frames(
    vl_specs: Iterable[dict[str, Any]],
    width: int,
    total: int,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Image.Image]:
    """Frames each drawn from its own Vega-Lite spec (a chart whose data changes from frame to frame, such
    as the Fine-tune picture at each training step), `width` px wide, one at a time."""
    import vl_convert as vlc

    return _drawn(vl_specs, vlc.vegalite_to_png, width, total, progress)


def _drawn(
    specs: Iterable[dict[str, Any]],
    to_png: Callable[..., bytes],
    width: int,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> Iterator[Image.Image]:
    """Each spec drawn by `to_png` at the scale that makes it `width` px wide (the first one, drawn at
    scale 1, tells the chart's own width)."""
    scale = None
    for i, spec in enumerate(specs):
        if scale is None:
            scale = width / Image.open(io.BytesIO(to_png(spec, scale=1.0))).width
        image = Image.open(io.BytesIO(to_png(spec, scale=scale))).convert("RGB")
        if image.width != width:  # rounding: a pixel either way
            image = image.resize((width, round(image.height * width / image.width)))
        yield image
        if progress is not None:
            progress(i + 1, total)


def render_frames(
    vl_spec: dict[str, Any],
    layer_names: Sequence[str],
    settings: SweepSettings,
    title: Callable[[str], str],
    subtitle: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Image.Image], list[float]]:
    """Every frame of the sweep (see `iter_frames`) and how long each shows."""
    images = list(iter_frames(vl_spec, layer_names, settings, title, subtitle, progress))
    return images, [f.seconds for f in sweep_frames(layer_names, settings)]


def make_sweep(
    kind: str,
    vl_spec: dict[str, Any],
    layer_names: Sequence[str],
    settings: SweepSettings,
    title: Callable[[str], str],
    subtitle: str = "",
    comment: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """The sweep as a file of `kind` (one of FORMATS), each frame encoded as soon as it is drawn."""
    seconds = [f.seconds for f in sweep_frames(layer_names, settings)]
    return encode(
        kind, iter_frames(vl_spec, layer_names, settings, title, subtitle, progress), seconds, comment
    )


def encode(kind: str, images: Iterable[Image.Image], seconds: Sequence[float], comment: str = "") -> bytes:
    """`images` as a file of `kind` (one of FORMATS), each frame encoded as it comes."""
    if kind not in FORMATS:
        raise ValueError(f"Unknown format: {kind}. Valid formats: {list(FORMATS)}")
    return encode_gif(images, seconds, comment) if kind == "gif" else encode_mp4(images, seconds, comment)


@dataclass(frozen=True)
class SweepJob:
    """Everything one sweep file is made from: how long each frame shows, how to draw the frames one at a
    time (given a progress callback), the file's comment (the provenance), its name's stem, and the
    frames' width in pixels."""

    seconds: tuple[float, ...]
    frames: Callable[[Callable[[int, int], None] | None], Iterator[Image.Image]]
    comment: str
    stem: str
    width: int

    def make(self, kind: str, progress: Callable[[int, int], None] | None = None) -> bytes:
        return encode(kind, self.frames(progress), self.seconds, self.comment)


def layer_sweep(source: LayerChartExport, settings: SweepSettings) -> SweepJob:
    """The sweep of a chart that carries every layer (the Token journey), titled per frame, with the
    provenance line under the title and the whole provenance as the file's comment."""
    frames = sweep_frames(source.layer_names, settings)
    line = provenance_line(source.provenance)
    return SweepJob(
        tuple(f.seconds for f in frames),
        lambda progress: iter_frames(source.spec, source.layer_names, settings, source.title, line, progress),
        provenance_text(source.provenance),
        source.stem,
        settings.width,
    )


KEY_STEPS = 7  # training snapshots shown in a Fine-tune sweep, the first and the last among them


def key_steps(steps: Sequence[int], most: int = KEY_STEPS) -> list[int]:
    """At most `most` of the snapshots' `steps`, evenly spaced, always the first (the model's own
    geometry) and the last (the tuned head)."""
    ordered = sorted(set(int(s) for s in steps))
    if not ordered:
        raise ValueError("A training sweep needs at least one snapshot.")
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, min(len(ordered), most))).astype(int))
    return [ordered[i] for i in picks]


def snapshot_sweep(
    frame: pd.DataFrame,
    settings: SweepSettings,
    title: str,
    prov: dict[str, Any],
    stem: str,
    classroom: bool = False,
) -> SweepJob:
    """The Fine-tune picture (`charts.finetune.snapshot_chart`) from the model's own geometry to the tuned
    head: one frame per key step (`key_steps`), in-between frames gliding from one snapshot to the next.
    `title` starts each frame's title line ('Fine-tune · model'); the axes are the same in every frame."""
    keys = key_steps(frame["step"].unique())
    names = [
        f"{s}" + (" (base)" if i == 0 else " (tuned)" if i == len(keys) - 1 and i else "")
        for i, s in enumerate(keys)
    ]
    frames = sweep_frames(names, settings, what="step")
    line = provenance_line(prov)

    def spec_of(position: float, label: str) -> dict[str, Any]:
        i = int(np.floor(position))
        shown, step = frame, keys[i]
        if position > i:
            shown, step = frame_between(frame, keys[i], keys[i + 1], position - i)
        spec = chart_spec(snapshot_chart(shown, step, classroom=classroom), f"{title} · {label}")
        spec["title"].update(
            {"fontSize": 17, "subtitle": line, "subtitleFontSize": 11, "subtitleColor": "#4b5563"}
        )
        return spec

    def draw(progress: Callable[[int, int], None] | None) -> Iterator[Image.Image]:
        specs = (spec_of(f.position, f.label) for f in frames)
        return iter_spec_frames(specs, settings.width, len(frames), progress)

    return SweepJob(tuple(f.seconds for f in frames), draw, provenance_text(prov), stem, settings.width)


def encode_gif(images: Iterable[Image.Image], seconds: Sequence[float], comment: str = "") -> bytes:
    """An endlessly looping GIF, each frame shown for its `seconds` (GIF counts in hundredths). All frames
    share one palette taken from the first (the chart's colours are the same in every frame); each frame
    is reduced to it as it comes (one byte a pixel)."""
    palette = None
    frames = []
    for image in images:
        if palette is None:
            palette = image.quantize(colors=GIF_COLOURS, method=Image.Quantize.MEDIANCUT)
        frames.append(image.quantize(palette=palette, dither=Image.Dither.NONE))
    if not frames:
        raise ValueError("A GIF needs at least one frame.")
    out = io.BytesIO()
    frames[0].save(
        out,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[max(20, round(s * 1000)) for s in seconds],
        loop=0,
        optimize=False,
        disposal=1,
        comment=comment.encode("utf-8")[:8000],
    )
    return out.getvalue()


def mp4_fps(seconds: Sequence[float]) -> int:
    """The fewest frames a second (within MP4_FPS) that still show the shortest frame once: a layer held
    still costs the encoder one repeated frame per tick, so fewer ticks encode faster."""
    return int(min(MP4_FPS[1], max(MP4_FPS[0], np.ceil(1 / max(min(seconds), 1e-3) - 1e-9))))


def encode_mp4(
    images: Iterable[Image.Image], seconds: Sequence[float], comment: str = "", fps: int | None = None
) -> bytes:
    """An H.264 MP4 (yuv420p, plays in slide software and browsers) at `fps` (default `mp4_fps`), each
    frame repeated for its `seconds` and handed to ffmpeg as it comes; the picture is padded with white
    to even sides, as the codec needs."""
    import imageio.v2 as imageio

    fps = fps or mp4_fps(seconds)
    metadata = ["-metadata", f"comment={comment}"] if comment else []
    handle, path = tempfile.mkstemp(suffix=".mp4")
    os.close(handle)
    try:
        writer = imageio.get_writer(
            path,
            format="FFMPEG",
            mode="I",
            fps=fps,
            codec="libx264",
            pixelformat="yuv420p",
            quality=7,
            macro_block_size=1,
            output_params=[
                "-preset",
                "veryfast",
                "-tune",
                "stillimage",
                "-movflags",
                "+faststart",
                *metadata,
            ],
            ffmpeg_log_level="error",
        )
        written = 0
        with writer:
            for image, shown in zip(images, seconds, strict=True):
                even = (image.width + image.width % 2, image.height + image.height % 2)
                canvas = Image.new("RGB", even, "white")
                canvas.paste(image, (0, 0))
                pixels = np.asarray(canvas)
                for _ in range(max(1, round(shown * fps))):
                    writer.append_data(pixels)
                written += 1
        if not written:
            raise ValueError("An MP4 needs at least one frame.")
        with open(path, "rb") as file:
            return file.read()
    finally:
        os.remove(path)


def sweep_peak_bytes(kind: str, n_frames: int, width: int, height: int) -> int:
    """A bound on the memory `make_sweep` takes above what the process held (vl-convert started): a few
    RGB copies of the frame being drawn (its PNG, the decoded image, the padded canvas), the encoder's
    frames (GIF: every frame at one byte a pixel; MP4: x264's lookahead and references, 16 frames in
    YUV 4:2:0), the file itself, and 48 MB for the renderer. Measured: bench/bench_exports.py."""
    pixels = width * height
    kept = n_frames * pixels if kind == "gif" else int(16 * pixels * 1.5)
    return int(6 * pixels * 3 + kept + 2 * n_frames * pixels // 8 + 48 * 2**20)
