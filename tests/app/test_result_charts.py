"""Chart builders of the Results page: Pareto frontier, markers by execution, speed and peak
memory of simulated runs left out, the roofline beside measured speed (or at the edge when far
off), readable ticks and labels, bars relative to the baseline split by direction."""

from __future__ import annotations

import math

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
    # Every bound is over 1.5x the fastest measured run (30 tok/s): each is a note at the edge.
    notes = [a.text for a in figure.layout.annotations if a.text.startswith("roofline bound")]
    assert sorted(int(n.split("<br>")[1].split()[0]) for n in notes) == [60, 110, 150]


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


def test_no_data_says_so():
    empty = _frame().iloc[0:0]
    figure = result_charts.tradeoff_figure(empty, "stored_bytes", "ppl")
    assert any(a.text == "no run has both figures" for a in figure.layout.annotations)
    # A metric no stored result has (an older database) is a column the frame lacks.
    figure = result_charts.tradeoff_figure(_frame(), "peak_mem_bytes", "ppl")
    assert any(a.text == "no run has both figures" for a in figure.layout.annotations)


def _tick_labels(axis) -> list[str]:
    """The labels plotly draws on a linear axis with an explicit range, dtick and a d3
    ",.Nf" tick format (Python's format mini-language reads that the same way)."""
    assert axis.tickformat and axis.range and axis.dtick
    lo, hi = axis.range
    first = math.ceil(lo / axis.dtick)
    return [format(k * axis.dtick, axis.tickformat)
            for k in range(first, math.floor(hi / axis.dtick) + 1)]


def test_only_the_baseline_is_drawn_with_a_note_to_add_a_run():
    figure = result_charts.tradeoff_figure(_frame().iloc[[0]], "stored_bytes", "ppl")
    baseline = next(trace for trace in figure.data if trace.name == "baseline")
    assert list(baseline.x) == [513] and list(baseline.y) == [16.0]
    assert any("only the baseline:" in a.text for a in figure.layout.annotations)
    lo, hi = figure.layout.xaxis.range
    assert lo < 513 < hi and len(set(_tick_labels(figure.layout.xaxis))) > 1


def _far_roofline() -> pd.DataFrame:
    frame = _frame()
    # Measured 16 tok/s at most; the baseline's bound is 250x that, w8a8's within reach.
    frame["decode_tok_s_b1"] = [16.0, 14.0, 12.0, 15.5, 15.2]
    frame["roofline_decode_tok_s"] = [4000.0, 20.0, float("nan"), 60.0, 60.0]
    return frame


def test_decode_axis_is_set_by_measured_speed_and_a_far_roofline_is_an_edge_note():
    figure = result_charts.tradeoff_figure(_far_roofline(), "decode_tok_s_b1", "ppl")
    lo, hi = figure.layout.xaxis.range
    assert lo < 12.0 and 20.0 < hi < 30.0  # measured points and the bound within reach
    ticks = next(t for t in figure.data if t.name.startswith("roofline"))
    assert list(ticks.x) == [20.0]  # a bound within 1.5x of the fastest run stays a tick
    note = next(a for a in figure.layout.annotations if a.text.startswith("roofline bound"))
    assert "4,000 tok/s" in note.text and "→" in note.text and "estimate" in note.text
    assert note.xref == "paper" and note.x == 1 and note.y == 16.0  # at the baseline's height


def test_relative_bars_say_which_direction_is_better():
    frame = _with_speculative()
    figure = result_charts.relative_bars(
        frame, ["ppl", "stored_bytes", "decode_tok_s_b1", "decode_speedup_b1"])
    titles = [a.text for a in figure.layout.annotations]
    assert any("lower is better" in t for t in titles)
    assert any("higher is better" in t for t in titles)
    panel = {trace.name: trace.xaxis for trace in figure.data}
    assert panel["perplexity"] == panel["stored size (MiB)"] == "x"
    # A side-by-side speedup is a ratio already, and higher is better.
    assert panel[result_charts.label("decode_speedup_b1")] == panel[
        result_charts.label("decode_tok_s_b1")] == "x2"


def test_long_names_are_shortened_on_the_figure_and_kept_whole_on_hover():
    frame = _frame()
    long = "#12 gptq w4 g128 act-order + smoothquant alpha 0.5 per channel"
    frame.loc[1, ["name", "short"]] = long
    figure = result_charts.tradeoff_figure(frame, "stored_bytes", "ppl")
    real = next(trace for trace in figure.data if trace.name == "real kernel")
    assert real.cliponaxis is False  # labels at the plot's edge are drawn whole
    assert len(real.text[0]) < len(long) and real.text[0].endswith("…")
    assert long in real.hovertext[0]
    bars = result_charts.relative_bars(frame, ["ppl"])
    axis = bars.layout.xaxis
    assert axis.automargin is True
    shown = dict(zip(axis.tickvals, axis.ticktext))
    assert len(shown[long]) < len(long) and shown[long].startswith("#12 ")
    assert long in bars.data[0].customdata


def test_peak_memory_is_plotted_in_mib_without_simulated_runs():
    frame = _frame()
    frame["peak_mem_bytes"] = [900.0, 600.0, 500.0, 900.0, 900.0]
    frame["peak_mem_bytes"] *= 2**20
    figure = result_charts.tradeoff_figure(frame, "peak_mem_bytes", "ppl")
    traces = {trace.name: trace for trace in figure.data}
    assert "simulated" not in traces  # fake-quant computes in float: the float model's memory
    assert list(traces["baseline"].x) == [900.0]
    assert figure.layout.xaxis.title.text == "peak memory (MiB)"
    ratios = result_charts.relative_frame(frame, ["peak_mem_bytes"])
    assert set(ratios["name"]) == {"w8a8", "quanto4"}


def test_trade_off_ticks_are_whole_ms_and_a_few_digits_of_perplexity():
    frame = _frame()
    frame["prefill_ms"] = [7446.5, 5210.25, 3120.75, 7000.0, 7000.0]
    figure = result_charts.tradeoff_figure(frame, "prefill_ms", "ppl")
    ms = _tick_labels(figure.layout.xaxis)
    # The horizontal axis of a plot a quarter of the page wide carries two to five labels.
    assert 2 <= len(ms) == len(set(ms)) <= 5
    assert all("." not in t for t in ms) and any("," in t for t in ms)  # "5,000", not "5,000.5"
    ppl = _tick_labels(figure.layout.yaxis)
    assert len(ppl) == len(set(ppl)) >= 3
    assert all(len(t.replace(".", "").lstrip("0")) <= 3 for t in ppl)


def test_a_speed_plot_without_real_runs_says_why_they_are_left_out():
    frame = _frame()
    only_simulated = frame[frame["execution"].eq("simulated") | frame["kind"].eq("baseline")]
    figure = result_charts.tradeoff_figure(only_simulated, "decode_tok_s_b1", "ppl")
    texts = [a.text for a in figure.layout.annotations]
    assert any("simulated runs left out" in t for t in texts)
    assert not any("add a run" in t for t in texts)


def test_a_simulated_run_stands_at_its_computed_packed_size_on_the_size_plot():
    frame = _frame()
    frame["packed_bytes_computed"] = [None, None, None, 140 * 2**20, 141 * 2**20]
    figure = result_charts.tradeoff_figure(frame, "stored_bytes", "ppl")
    traces = {trace.name: trace for trace in figure.data}
    computed = traces[result_charts.COMPUTED_SIZE_GROUP]
    assert list(computed.text) == ["rtn4", "gptq4"]
    assert list(computed.x) == [140, 141] and computed.marker.symbol == "diamond-open"
    # Real runs keep their measured size; a simulated run without a computed size stays
    # hollow at its stored size.
    assert list(traces["real kernel"].x) == [240, 180]
    assert "simulated" not in traces
    # Speed plots are unchanged: simulated runs are left out there.
    speed = result_charts.tradeoff_figure(frame, "decode_tok_s_b1", "ppl")
    assert result_charts.COMPUTED_SIZE_GROUP not in {t.name for t in speed.data}


def test_a_broken_run_turns_the_quality_axis_logarithmic_so_the_rest_stay_apart():
    frame = _frame()
    assert result_charts.tradeoff_figure(frame, "stored_bytes", "ppl").layout.yaxis.type \
        != "log"
    frame.loc[frame["name"] == "rtn4", "ppl"] = 4.2e8  # an SVD run that broke the model
    figure = result_charts.tradeoff_figure(frame, "stored_bytes", "ppl")
    assert figure.layout.yaxis.type == "log"
    assert figure.layout.yaxis.title.text.endswith("(log scale)")


def test_on_a_log_quality_axis_a_roofline_note_stays_level_with_its_run():
    frame = _frame()
    frame.loc[frame["name"] == "quanto4", "ppl"] = 4.2e8
    frame.loc[frame["name"] == "w8a8", "roofline_decode_tok_s"] = 5000.0  # far: an edge note
    figure = result_charts.tradeoff_figure(frame, "decode_tok_s_b1", "ppl")
    assert figure.layout.yaxis.type == "log"
    notes = [a for a in figure.layout.annotations if "roofline bound" in (a.text or "")]
    # Placed by the exponent, as plotly reads a log axis: level with w8a8's 16.4, not 10^16.
    assert notes and all(a.y < 9 for a in notes)
    assert any(abs(a.y - math.log10(16.4)) < 1e-9 for a in notes)
