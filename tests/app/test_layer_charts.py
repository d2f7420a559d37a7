"""Per-layer diagnostics: a heatmap of layer index by projection where names follow
`...layers.<N>.<path>`, named bars for the rest, log axes with powers of ten only."""

from __future__ import annotations

from app import layer_charts

PROJECTIONS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
               "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")


def _bundled_model_rows() -> list[dict]:
    """30 decoder layers x 7 projections + lm_head, as the bundled model's diagnostics."""
    names = [f"model.layers.{i}.{p}" for i in range(30) for p in PROJECTIONS] + ["lm_head"]
    return [{"name": name, "relative_error": 0.001 * (k + 1), "outlier_ratio": 1.5 * (k + 1),
             "max_channel": k, "max_abs": 3.0} for k, name in enumerate(names)]


def _shown_names(figure) -> set[str]:
    """Every layer name a reader can find on the figure: heatmap hover and bar labels."""
    names = set()
    for trace in figure.data:
        if trace.type == "heatmap":
            names |= {cell.split("<br>")[0].replace("<b>", "").replace("</b>", "")
                      for row in trace.text for cell in row if cell}
        else:
            names |= set(trace.y if trace.orientation == "h" else trace.x)
    return names


def test_many_layers_are_a_heatmap_of_layer_by_projection_with_every_name():
    rows = _bundled_model_rows()
    for chart in (layer_charts.layer_error_figure, layer_charts.outlier_figure):
        figure = chart(rows)
        grid = next(trace for trace in figure.data if trace.type == "heatmap")
        assert list(grid.x) == list(range(30))
        assert list(grid.y) == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                "down_proj"]
        assert "model.layers.3.self_attn.q_proj" in grid.text[0][3]
        assert _shown_names(figure) == {row["name"] for row in rows}  # lm_head included


def test_outlier_axes_read_powers_of_ten_only():
    rows = [{"name": f"l{i}", "relative_error": 0.01 * i, "outlier_ratio": 3.0 * 10 ** i,
             "max_channel": i, "max_abs": 1.0} for i in range(4)]
    figure = layer_charts.outlier_figure(rows)
    logs = [a for a in [*figure.select_xaxes(), *figure.select_yaxes()] if a.type == "log"]
    assert logs and all(axis.dtick == 1 for axis in logs)  # 1, 10, 100: no 2 and 5 between
    grid = next(t for t in layer_charts.outlier_figure(_bundled_model_rows()).data
                if t.type == "heatmap")
    assert list(grid.colorbar.ticktext) == ["1", "10", "100", "1,000"]


def test_layer_figures_plot_every_layer():
    rows = [{"name": f"l{i}", "relative_error": 0.01 * i, "outlier_ratio": 2.0 ** i,
             "max_channel": i, "max_abs": 1.0} for i in range(3)]
    assert _shown_names(layer_charts.layer_error_figure(rows)) == {"l0", "l1", "l2"}
    assert _shown_names(layer_charts.outlier_figure(rows)) == {"l0", "l1", "l2"}


def test_a_layer_without_a_value_is_named_not_drawn_as_an_empty_bar():
    from app import layer_charts

    rows = [{"name": f"model.layers.{i}.mlp.down_proj", "relative_error": 0.1 * (i + 1),
             "outlier_ratio": 5.0, "max_channel": 1, "max_abs": 2.0} for i in range(3)]
    rows.append({"name": "lm_head", "relative_error": None, "outlier_ratio": 20.0,
                 "max_channel": 3, "max_abs": 9.0})
    figure = layer_charts.layer_error_figure(rows)
    assert not any(trace.type == "bar" for trace in figure.data)
    assert any("no value for lm_head" in a.text for a in figure.layout.annotations)
    assert any(trace.type == "bar" for trace in layer_charts.outlier_figure(rows).data)
