"""A lesson as one HTML file that works with no server and no network: the question, the prediction
choices, the page's chart at every layer with its Layer slider, Reveal, the answer (with what the app
measured when the pack was made) and the teacher notes, plus the export's provenance.

Before Reveal the file shows the chart as the page draws it while the lesson hides its evidence (no
paths, readout or lines that answer the question); Reveal draws the page's full chart at the same layer.
The answer is not in the document until Reveal: it waits in a <template> (inert, not rendered, not in
the page's text) and the revealed chart in a JSON data script. Everything a person typed is escaped:
text as HTML text, JSON as `offline.script_json`. Vega comes bundled (`offline.vega_bundle`). No
Streamlit."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from explorer.assets import Lesson
from explorer.charts.layer_slider import LAYER_PARAM
from explorer.offline import PAGE_HEAD, provenance_html, script_json, vega_bundle


@dataclass(frozen=True)
class PackChart:
    """The page's chart for one lesson: `before`, the Vega-Lite spec drawn until Reveal (what the lesson
    hides left out), `after`, the full spec; both with data inlined and the Play input unbound."""

    before: dict[str, Any]
    after: dict[str, Any]
    layer_names: tuple[str, ...]
    caption: str  # what a point is and what the axes are
    waiting: str  # under the chart until Reveal: what appears with the answer
    description: str = ""  # the chart in words for screen readers (nothing that answers the lesson)
    more: dict[str, Any] | None = None  # a second chart drawn under it only after Reveal (e.g. the moves
    more_description: str = ""  # per layer that a lesson hides beside a picture), and its words


@dataclass(frozen=True)
class PackAnswer:
    """What the app measured on the pack's sentences when the pack was made (None: nothing measured),
    and the option it matches (None: no option to judge the pick against)."""

    measured: str | None = None
    option: str | None = None


def pack_file_name(lesson: Lesson) -> str:
    return f"lesson_{lesson.id}.html"


NARROW = "containerSize()[0] < 600"  # a phone's width: legends in one column of shorter names


def _narrow_legends(node: Any) -> Any:
    """`node` with every legend laid out by the chart's width (the app's column is never a phone's)."""
    if isinstance(node, list):
        return [_narrow_legends(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: value if key == "datasets" else _narrow_legends(value) for key, value in node.items()}
    legend = out.get("legend")
    if isinstance(legend, dict) and isinstance(legend.get("columns"), int) and legend["columns"] > 1:
        limit = legend.get("labelLimit", 300)
        out["legend"] = {
            **legend,
            "columns": {"expr": f"{NARROW} ? 1 : {legend['columns']}"},
            "labelLimit": limit if isinstance(limit, dict) else {"expr": f"{NARROW} ? 300 : {limit}"},
        }
    return out


def for_the_file(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of `spec` whose width follows the page (a phone's or a projector's), not the app's column,
    its legends in one column on a phone."""
    out = _narrow_legends(spec)
    if isinstance(out.get("width"), int | float):
        out["width"] = "container"
        out["autosize"] = {"type": "fit-x", "contains": "padding"}
    return out


def _answer_template(lesson: Lesson, answer: PackAnswer) -> str:
    """The answer, as inert markup: a <template> is parsed, never rendered nor part of the page's text."""
    e = html.escape
    measured = ""
    if answer.measured is not None:
        option = "" if answer.option is None else f' data-option="{e(answer.option, quote=True)}"'
        measured = (
            f'<p class="measured"{option}>Measured when this pack was made, on the sentences below: '
            f"{e(answer.measured)}</p>"
        )
    return (
        '<template id="answer-template"><p class="pick-line"></p>'
        f'{measured}<div class="answer" tabindex="-1"><span aria-hidden="true">💡</span> '
        f"{e(lesson.answer)}</div></template>"
    )


def _choices(lesson: Lesson) -> str:
    e = html.escape
    if not lesson.pick_options:
        return ""
    labels = "".join(
        f'<label><input type="radio" name="pick" value="{e(o, quote=True)}"> {e(o)}</label>'
        for o in lesson.pick_options
    )
    return f'<fieldset id="pick"><legend>{e(lesson.pick_prompt)}</legend>{labels}</fieldset>'


_PAGE = (
    PAGE_HEAD
    + """<title>Lesson · __TITLE__</title>
<style>
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0; padding: 0.8rem; color: #1f2937; line-height: 1.4; }
.pack { display: grid; gap: 0.8rem 1.4rem; grid-template-columns: minmax(0, 1fr); }
@media (min-width: 900px) { .pack { grid-template-columns: minmax(300px, 1fr) minmax(0, 2.2fr); } }
.kicker { font-size: 0.8rem; color: #4b5563; margin: 0; }
h1 { font-size: 1.2rem; margin: 0.1rem 0 0.4rem; }
.question { margin: 0 0 0.5rem; }
fieldset { border: 1px solid #d1d5db; border-radius: 0.4rem; margin: 0 0 0.6rem; padding: 0.3rem 0.6rem; }
legend { font-weight: 600; padding: 0 0.2rem; }
fieldset label { display: inline-flex; align-items: center; gap: 0.3rem; margin: 0.15rem 0.8rem 0.15rem 0;
  min-height: 2rem; cursor: pointer; }
fieldset input { width: 1.1rem; height: 1.1rem; margin: 0; }
#reveal { font: inherit; font-weight: 600; padding: 0.45rem 1.2rem; border-radius: 0.4rem; border: 0;
  background: #4f5bd5; color: #fff; cursor: pointer; min-height: 2.6rem; }
#reveal:disabled { background: #c7cbe9; color: #374151; cursor: default; }
button:focus-visible, input:focus-visible, summary:focus-visible, .answer:focus { outline: 3px solid #4f5bd5; }
.hint { font-size: 0.85rem; color: #4b5563; margin: 0.3rem 0; }
#answer { margin: 0.6rem 0; }
.answer { background: #ecfdf5; border: 1px solid #a7f3d0; border-radius: 0.4rem; padding: 0.5rem 0.7rem; }
.pick-line, .measured { margin: 0.3rem 0; }
details { margin-top: 0.6rem; border: 1px solid #e5e7eb; border-radius: 0.4rem; padding: 0.3rem 0.6rem; }
summary { cursor: pointer; font-weight: 600; min-height: 1.8rem; }
#chart, #more { width: 100%; min-width: 0; }
.vega-bind { margin: 0.4rem 0; }
.vega-bind label { display: flex; align-items: center; gap: 0.6rem; font-weight: 600; }
.vega-bind input[type="range"] { flex: 1 1 auto; max-width: 560px; min-height: 1.8rem; }
.caption, #waiting { font-size: 0.85rem; color: #4b5563; margin: 0.3rem 0; }
.provenance { font-size: 0.8rem; color: #4b5563; border-top: 1px solid #e5e7eb; margin-top: 1rem;
  overflow-wrap: anywhere; }
</style></head>
<body>
<main class="pack">
<section class="lesson" aria-label="The lesson">
<p class="kicker">🎓 Lesson · __PAGE__ · Latent Space Explorer</p>
<h1>__TITLE__</h1>
<p class="question"><strong>🤔 Predict:</strong> __QUESTION__</p>
__CHOICES__
<button type="button" id="reveal">Reveal the answer</button>
<p class="hint" id="hint">__HINT__</p>
<div id="answer" hidden></div>
<details class="notes"><summary>👩‍🏫 Teacher notes</summary><p>__NOTES__</p></details>
</section>
<section class="stage" aria-label="The chart">
<div id="chart" role="figure" aria-label="__DESCRIPTION__"></div>
<div id="more" role="figure" aria-label="__MORE_DESCRIPTION__" hidden></div>
<p class="caption">__CAPTION__</p>
<p id="waiting">__WAITING__</p>
</section>
</main>
__ANSWER__
__PROVENANCE__
<script type="application/json" id="spec-before">__BEFORE__</script>
<script type="application/json" id="spec-after">__AFTER__</script>
<script type="application/json" id="spec-more">__MORE__</script>
<script>__BUNDLE__</script>
<script>
const LAYER = "__LAYER__";
const before = JSON.parse(document.getElementById("spec-before").textContent);
const after = JSON.parse(document.getElementById("spec-after").textContent);
const reveal = document.getElementById("reveal");
const radios = Array.from(document.querySelectorAll("input[name='pick']"));
let view = null;
function slider() { return document.querySelector("#chart .vega-bind input[type='range']"); }
function atLayer(spec, layer) {  // the spec with its Layer slider starting at `layer`
  const copy = JSON.parse(JSON.stringify(spec));
  for (const holder of [copy, ...(copy.layer || [])]) {
    for (const p of holder.params || []) { if (p.name === LAYER && layer !== null) p.value = [{ layer }]; }
  }
  return copy;
}
function draw(spec) {
  const s = slider(), layer = s ? Number(s.value) : null;
  if (view) view.finalize();
  return vegaEmbed("#chart", atLayer(spec, layer), { actions: false, renderer: "canvas" }).then((r) => {
    view = r.view;
    window.__lseView = view;
  });
}
function picked() { const r = radios.find((x) => x.checked); return r ? r.value : null; }
reveal.disabled = radios.length > 0;
radios.forEach((r) => r.addEventListener("change", () => { reveal.disabled = false; }));
reveal.addEventListener("click", () => {
  reveal.disabled = true;
  reveal.textContent = "Revealed";
  radios.forEach((r) => { r.disabled = true; });
  document.getElementById("hint").hidden = true;
  document.getElementById("waiting").hidden = true;
  const box = document.getElementById("answer");
  box.appendChild(document.getElementById("answer-template").content.cloneNode(true));
  const pick = picked(), measured = box.querySelector(".measured");
  let line = pick ? "Your pick: " + pick : "No pick was made";
  if (pick && measured && measured.dataset.option !== undefined) {
    line += measured.dataset.option === pick ? " ✅ your pick matches" : " ❌ not what was measured";
  }
  box.querySelector(".pick-line").textContent = line + ".";
  box.hidden = false;
  box.querySelector(".answer").focus({ preventScroll: true });
  const more = JSON.parse(document.getElementById("spec-more").textContent), box2 = document.getElementById("more");
  const extra = more ? vegaEmbed("#more", more, { actions: false, renderer: "canvas" }) : Promise.resolve();
  if (more) box2.hidden = false;
  Promise.all([draw(after), extra]).then(() => { document.body.dataset.revealed = "true"; });
});
draw(before).then(() => { document.body.dataset.ready = "true"; });
</script></body></html>
"""
)

_SLOTS = re.compile(r"__(TITLE|DESCRIPTION|PAGE|QUESTION|CHOICES|HINT|NOTES|CAPTION|WAITING|ANSWER|PROVENANCE|BEFORE|AFTER|"
                    r"BUNDLE|LAYER|MORE_DESCRIPTION|MORE)__")  # fmt: skip


def lesson_pack_html(
    lesson: Lesson, page: str, chart: PackChart, answer: PackAnswer, prov: Mapping[str, Any]
) -> str:
    """The lesson pack of `lesson` (on `page`, e.g. 'Token journey') as one HTML file."""
    e = html.escape
    hint = "Pick first, then reveal: the answer is judged against your pick." if lesson.pick_options else ""
    parts = {
        "__TITLE__": e(lesson.title),
        "__PAGE__": e(page),
        "__QUESTION__": e(lesson.question),
        "__CHOICES__": _choices(lesson),
        "__HINT__": e(hint),
        "__NOTES__": e(lesson.teacher_notes),
        "__CAPTION__": e(chart.caption),
        "__DESCRIPTION__": e(chart.description or chart.caption, quote=True),
        "__WAITING__": e(chart.waiting),
        "__ANSWER__": _answer_template(lesson, answer),
        "__PROVENANCE__": provenance_html(dict(prov)),
        "__BEFORE__": script_json(for_the_file(chart.before)),
        "__AFTER__": script_json(for_the_file(chart.after)),
        "__LAYER__": LAYER_PARAM,
        "__MORE__": "null" if chart.more is None else script_json(for_the_file(chart.more)),
        "__MORE_DESCRIPTION__": e(chart.more_description, quote=True),
    }
    # One pass over the template: what is put in is never searched again (a sentence may say "__AFTER__").
    parts["__BUNDLE__"] = vega_bundle().replace("</script", "<\\/script")
    return _SLOTS.sub(lambda m: parts[m.group(0)], _PAGE)
