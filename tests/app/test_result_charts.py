"""Chart builders of the Results page: Pareto frontier, markers by execution, speed of
simulated runs left out, the roofline beside measured speed, bars relative to the baseline."""

from __future__ import annotations

import pandas as pd

from app import result_charts


def _frame() -> pd.DataFrame:
    rows = [
        # name, kind, execution, ppl, stored MiB, decode, roofline
        ("baseline", "baseline", "real", 16.0, 513, 15.0, 60.0),
        ("w8a8", "compressed", "real", 16.4, 240, 30.0, 110.0),
        ("quanto4", "compressed", "real", 17.5, 180, 12.0, 150.0),
        ("rtn4", "compressed", "simulated", 20.6, 513, 15.5, 60.0),
        ("gptq4", "compressed", "simulated", 18.0, 513, 15.2, 60.0),
    ]
    frame = pd.DataFrame(rows, columns=["name", "kind", "execution", "ppl", "mib",
                                        "decode_tok_s_b1", "roofline_decode_tok_s"])
    frame["stored_bytes"] = frame.pop("mib") * 2**20
    frame["short"] = frame["name"]
    frame["model"], frame["model_key"], frame["device"] = "m", "default:default", "cpu"
    frame["device_name"], frame["job_id"], frame["protocol_hash"] = "cpu", None, "abc"
    return frame


def test_pareto_mask_keeps_only_undominated_runs():
    frame = _frame()
    mask = result_charts.pareto_mask(frame, "stored_bytes", "ppl")
    assert list(frame[mask]["name"]) == ["baseline", "w8a8", "quanto4"]
    # Higher decode speed is better, lower perplexity is better.
    speed = result_charts.pareto_mask(frame[frame["execution"] == "real"], "decode_tok_s_b1", "ppl")
    assert list(frame[frame["execution"] == "real"][speed]["name"]) == ["baseline", "w8a8"]


def test_tradeoff_marks_baseline_real_and_simulated_apart():
    figure = result_charts.tradeoff_figure(_frame(), "stored_bytes", "ppl")
    traces = {trace.name: trace for trace in figure.data}
    assert traces["baseline"].marker.symbol == "star"
    assert list(traces["real kernel"].text) == ["w8a8", "quanto4"]
    assert traces["simulated"].marker.symbol == "circle-open"
    assert list(traces["Pareto frontier"].y) == [17.5, 16.4, 16.0]
    assert traces["baseline"].x[0] == 513  # bytes shown in MiB
    assert figure.layout.xaxis.title.text == "stored size (MiB)"


def test_speed_plots_leave_simulated_runs_out_and_show_the_roofline():
    figure = result_charts.tradeoff_figure(_frame(), "decode_tok_s_b1", "ppl")
    names = {trace.name for trace in figure.data}
    assert "simulated" not in names  # fake-quant speed is the float model's speed
    bound = next(t for t in figure.data if t.name.startswith("roofline"))
    assert sorted(bound.x) == [60.0, 110.0, 150.0]


def test_reported_numbers_are_reference_lines_labelled_reported():
    reported = pd.DataFrame([{"metric": "ppl", "value": 5.5, "label": "GPTQ 4-bit (x)"}])
    figure = result_charts.tradeoff_figure(_frame(), "stored_bytes", "ppl", reported=reported)
    assert any(a.text == "reported: GPTQ 4-bit (x)" for a in figure.layout.annotations)


def test_relative_bars_divide_by_the_baseline_and_skip_simulated_speed():
    data = result_charts.relative_frame(_frame(), ["ppl", "decode_tok_s_b1"])
    w8a8 = data[data["name"] == "w8a8"].set_index("metric")["ratio"]
    assert abs(w8a8["ppl"] - 16.4 / 16.0) < 1e-9 and abs(w8a8["decode_tok_s_b1"] - 2.0) < 1e-9
    assert data[(data["name"] == "rtn4") & (data["metric"] == "decode_tok_s_b1")].empty
    figure = result_charts.relative_bars(_frame(), ["ppl"])
    assert figure.data[0].name == "perplexity"


def _with_speculative() -> pd.DataFrame:
    frame = _frame()
    frame["output_matches"] = float("nan")
    frame["decode_speedup_b1"] = float("nan")
    extra = frame.iloc[[0]].copy()
    extra["name"] = extra["short"] = "speculative"
    extra["kind"], extra["decode_tok_s_b1"] = "compressed", 9.0  # timed through generate()
    extra["output_matches"], extra["decode_speedup_b1"] = 1.0, 1.3
    return pd.concat([frame, extra], ignore_index=True)


def test_a_run_timed_against_its_own_default_generation_shows_its_speedup_not_its_rate():
    frame = _with_speculative()
    figure = result_charts.tradeoff_figure(frame, "decode_tok_s_b1", "ppl")
    assert all("speculative" not in list(trace.text or []) for trace in figure.data)
    assert any("speculative" in list(trace.text or [])
               for trace in result_charts.tradeoff_figure(frame, "stored_bytes", "ppl").data)
    data = result_charts.relative_frame(frame, ["decode_tok_s_b1", "decode_speedup_b1"])
    speculative = data[data["name"] == "speculative"].set_index("metric")["ratio"]
    assert list(speculative.index) == ["decode_speedup_b1"] and speculative.iloc[0] == 1.3


def test_layer_figures_plot_every_layer():
    rows = [{"name": f"l{i}", "relative_error": 0.01 * i, "outlier_ratio": 2.0 ** i,
             "max_channel": i, "max_abs": 1.0} for i in range(3)]
    assert list(result_charts.layer_error_figure(rows).data[0].x) == ["l0", "l1", "l2"]
    assert result_charts.outlier_figure(rows).layout.yaxis.type == "log"


def test_no_data_says_so():
    empty = _frame().iloc[0:0]
    figure = result_charts.tradeoff_figure(empty, "stored_bytes", "ppl")
    assert any(a.text == "no run has both figures" for a in figure.layout.annotations)
