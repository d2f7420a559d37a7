"""Chart builders are pure: a DataFrame in, a figure out."""

from __future__ import annotations

from app.charts import FAMILY_COLOURS, HIGHLIGHT_OUTLINE, taxonomy_frame, taxonomy_sunburst
from taxonomy.catalog import load_catalog
from taxonomy.loader import load_taxonomy
from taxonomy.seed import seed


def test_sunburst_has_one_segment_per_node(engine, mini_data_dir):
    seed(engine, load_taxonomy(mini_data_dir))
    frame = taxonomy_frame(load_catalog(engine))
    trace = taxonomy_sunburst(frame, highlight="gptq").data[0]
    assert list(trace.ids) == list(frame["slug"])
    parents = dict(zip(trace.ids, trace.parents))
    assert parents["gptq"] == "weight-only" and parents["quantization"] == ""
    colours = dict(zip(trace.ids, trace.marker.colors))
    assert colours["gptq"] == FAMILY_COLOURS["quantization"]
    assert colours["wanda"] == FAMILY_COLOURS["pruning"]
    # Only methods carry size, so a segment's area counts its methods.
    values = dict(zip(trace.ids, trace.values))
    assert values["gptq"] == 1 and values["weight-only"] == 0
    widths = dict(zip(trace.ids, trace.marker.line.width))
    outlines = dict(zip(trace.ids, trace.marker.line.color))
    assert widths["gptq"] > widths["hqq"]
    assert outlines["gptq"] == HIGHLIGHT_OUTLINE != outlines["hqq"]
    assert [c[0] for c in trace.customdata] == list(frame["slug"])


def test_sunburst_labels_stay_readable(engine, mini_data_dir):
    seed(engine, load_taxonomy(mini_data_dir))
    figure = taxonomy_sunburst(taxonomy_frame(load_catalog(engine)))
    trace = figure.data[0]
    # The first view shows families and categories; a click zooms into a branch.
    assert trace.maxdepth == 2
    # A label too small to read is hidden, not shrunk; text is not forced along a radius.
    assert figure.layout.uniformtext.mode == "hide"
    assert figure.layout.uniformtext.minsize >= 10
    assert trace.insidetextorientation in ("horizontal", "auto")
    # Long names are wrapped onto short lines, so more of them fit.
    texts = dict(zip(trace.ids, trace.text))
    assert "<br>" in texts["weight-only"] and trace.textinfo == "text"


def test_sunburst_opens_on_the_branch_of_the_highlighted_node(engine, mini_data_dir):
    seed(engine, load_taxonomy(mini_data_dir))
    frame = taxonomy_frame(load_catalog(engine))
    # A method sits below the first view's depth, so the chart starts at its parent.
    assert taxonomy_sunburst(frame, highlight="gptq").data[0].level == "weight-only"
    # A family is in the first view already.
    assert taxonomy_sunburst(frame, highlight="quantization").data[0].level is None
    assert taxonomy_sunburst(frame).data[0].level is None
    # A node the (filtered) frame lacks changes nothing.
    assert taxonomy_sunburst(frame, highlight="not-there").data[0].level is None
