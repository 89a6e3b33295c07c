"""The share menu's exports for slides and offline rooms: the animated layer sweep (GIF or MP4, made in a
dialog on a click, with progress, its memory claimed on the server's ledger while it renders) and the
offline interactive chart (one HTML file, made when its download button is pressed). Never made by
opening a link: only a click makes them. The pure work is `explorer.animation` and `explorer.offline`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from explorer.animation import SweepJob, SweepSettings, sweep_peak_bytes
from explorer.export import LayerChartExport
from explorer.offline import offline_chart_html
from explorer.ui import memory

SWEEP = "layer_sweep"  # the ledger's name for a sweep while it renders, and for the file it made
OFFLINE = "offline_chart"
PACK = "lesson_pack_file"  # the ledger's name for a finished lesson pack kept for its download
PACK_LABEL = "🎓 Lesson pack for offline use (HTML)…"
FORMATS = {"GIF": ("gif", "image/gif"), "MP4": ("mp4", "video/mp4")}
GLIDES = (0, 2, 4, 8)
SPEEDS = (0.6, 1.0, 1.5, 2.0, 3.0)  # seconds per layer
WIDTHS = (960, 1280, 1920)
FRAME_HEIGHT_SHARE = 1.0  # a frame's height as a share of its width, at most (the journey's: about 0.82)


@dataclass(frozen=True)
class Exports:
    """What a page hands the share menu, each made only on a click: the ZIP bundle; the chart with every
    layer for the offline chart (given the share link); the animated sweep (given the link and the
    settings chosen in its dialog); while a lesson runs, its lesson pack (given the link)."""

    bundle: Callable[[], bytes]
    layer_chart: Callable[[str], LayerChartExport] | None = None
    sweep: Callable[[str, SweepSettings], SweepJob] | None = None
    lesson_pack: Callable[[str], tuple[str, bytes]] | None = None  # (file name, HTML) given the link
    pack_needs: str | None = None  # while a lesson runs with no pack yet: what to do first (train, tune)


@dataclass(frozen=True)
class MadePack:
    """A finished lesson pack kept for this user (counted on the ledger) until the next one replaces it."""

    data: bytes
    file_name: str
    link: str  # the view it was made of: a pack of another view is not offered


@dataclass(frozen=True)
class MadeSweep:
    """A finished sweep kept for this user (counted on the ledger) until the next one replaces it."""

    data: bytes
    file_name: str
    mime: str
    frames: int
    link: str  # the view it was made of: a sweep of another view is not offered


def offline_download(layer_chart: Callable[[str], LayerChartExport], link: str) -> None:
    """The offline chart's download button: the file is made when it is pressed."""

    def make() -> bytes:
        source = layer_chart(link)
        need = 8 * len(str(source.spec)) + 16 * 2**20  # the spec's text a few times over, and the JS bundle
        with memory.quiet_room(OFFLINE, need):
            page = offline_chart_html(
                source.spec, source.title("every layer"), source.layer_names, source.provenance
            )
        return page.encode("utf-8")

    st.download_button(
        "🌐 Download the interactive chart for offline use (HTML)",
        data=make,
        file_name="token_journey_offline.html",
        mime="text/html",
        key="export_offline_chart",
        on_click="ignore",
        help="One HTML file that opens in any browser with no network and no server: the chart with its "
        "Layer slider and Play, the sentences, the model and its weights' fingerprint.",
    )


def sweep_button(
    sweep: Callable[[str, SweepSettings], SweepJob], link: str, on_click: Callable[[], None]
) -> None:
    """The button that opens the animated sweep's dialog (`on_click` closes the share menu first)."""
    if st.button(
        "🎞️ Animated sweep for slides (GIF or MP4)…",
        key="export_sweep_open",
        help="This chart as a moving picture, frame by frame (every layer, or the training steps), with its "
        "title line and provenance on every frame.",
        width="stretch",
        on_click=on_click,
    ):
        sweep_dialog(sweep, link)


@st.dialog("Animated layer sweep", width="large")
def sweep_dialog(sweep: Callable[[str, SweepSettings], SweepJob], link: str) -> None:
    """Choose the format and the pace, make the sweep with progress, and download it."""
    st.caption(
        "The chart as it is now, one frame per layer from the embeddings to the output (on Fine-tune: per "
        "training snapshot, from the model's own geometry to the tuned head), each with its title line "
        "(page · model · layer or step) and provenance; in-between frames glide between them as Play does."
    )
    left, right = st.columns(2)
    with left:
        kind = st.radio("Format", list(FORMATS), horizontal=True, key="sweep_format")
        width = st.radio("Width (pixels)", WIDTHS, index=1, horizontal=True, key="sweep_width")
    with right:
        glide = st.select_slider(
            "In-between frames per layer", GLIDES, value=0, key="sweep_glide",
            help="0: layer by layer. More: the points glide between layers (a larger file, longer to make).",
        )  # fmt: skip
        seconds = st.select_slider("Seconds per layer", SPEEDS, value=1.0, key="sweep_seconds")
    settings = SweepSettings(glide=int(glide), seconds=float(seconds), width=int(width))
    if st.button("Make the animation", type="primary", key="sweep_make"):
        _make_sweep(sweep(link, settings), kind, link)
    made = memory.held(SWEEP)
    if isinstance(made, MadeSweep) and made.link == link:
        _download_made(made.data, made.file_name, made.mime, "sweep_download", f", {made.frames} frames")


def _make_sweep(job: SweepJob, kind: str, link: str) -> None:
    """Render and encode the sweep under a claim on the server's memory ledger, with a progress bar; keep
    the file on the ledger for this user."""
    ext, mime = FORMATS[kind]
    n_frames = len(job.seconds)
    need = sweep_peak_bytes(ext, n_frames, job.width, int(job.width * FRAME_HEIGHT_SHARE))
    bar = st.progress(0.0, text=f"Drawing frame 1 of {n_frames}…")
    steps = n_frames + 1  # the frames, then the encoding

    def drawn(done: int, total: int) -> None:
        words = f"Drawing frame {done + 1} of {total}…" if done < total else f"Writing the {kind}…"
        bar.progress(done / steps, text=words)

    try:
        with memory.room(SWEEP, need, "making the animation"):
            data = job.make(ext, drawn)
            memory.keep(SWEEP, MadeSweep(data, f"{job.stem}_sweep.{ext}", mime, n_frames, link), len(data))
    except memory.BudgetFull as exc:
        bar.empty()
        st.warning(str(exc), icon="⏳")
        return
    bar.empty()


def pack_button(make: Callable[[str], tuple[str, bytes]], link: str, on_click: Callable[[], None]) -> None:
    """The button that opens the lesson pack's dialog (`on_click` closes the share menu first)."""
    if st.button(
        PACK_LABEL,
        key="export_pack_open",
        help="This lesson as one HTML file that needs no server and no network: the question, the choices, "
        "the chart at every layer with its slider, Reveal, the answer and the teacher notes.",
        width="stretch",
        on_click=on_click,
    ):
        pack_dialog(make, link)


def pack_waiting(needs: str) -> None:
    """The lesson pack's button, unavailable, and what to do first: the pack shows the visitor's own run,
    and a click here never trains on its own."""
    st.button(PACK_LABEL, key="export_pack_open", disabled=True, help=needs, width="stretch")
    st.caption(f"🎓 {needs}")


@st.dialog("Lesson pack for offline use")
def pack_dialog(make: Callable[[str], tuple[str, bytes]], link: str) -> None:
    """Make the running lesson's pack on a click, and download it."""
    st.caption(
        "One HTML file for a room without network or server: it opens in any browser, on a phone or a "
        "projector. The chart is this page's view of the lesson, with what the lesson hides left out until "
        "Reveal; the answer is measured now, on the sentences on screen, as the lesson card measures it."
    )
    if st.button("Make the lesson pack", type="primary", key="pack_make"):
        try:
            with st.spinner("Measuring the answer and drawing the chart at every layer…"):
                name, data = make(link)
        except memory.BudgetFull as exc:
            st.warning(str(exc), icon="⏳")
        else:
            memory.keep(PACK, MadePack(data, name, link), len(data))
    made = memory.held(PACK)
    if isinstance(made, MadePack) and made.link == link:
        _download_made(made.data, made.file_name, "text/html", "pack_download")


def _download_made(data: bytes, file_name: str, mime: str, key: str, detail: str = "") -> None:
    """The download button of a file made in a dialog and kept on the ledger: its name and size."""
    st.download_button(
        f"⬇️ Download {file_name} ({len(data) / 2**20:.1f} MB{detail})",
        data=data,
        file_name=file_name,
        mime=mime,
        key=key,
        on_click="ignore",
        type="primary",
    )
