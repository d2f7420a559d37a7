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
