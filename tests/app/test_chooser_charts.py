"""The chooser's chart: every candidate that fits, at its memory and estimated speed."""

from __future__ import annotations

from app.chooser_charts import options_frame, tradeoff_chart
from app.chooser_service import Question, answer


def test_every_candidate_that_fits_is_a_point_and_the_shortlist_carries_its_ranks():
    result = answer(Question(model="8B", hardware="a100-80gb", goal="throughput", batch=256))
    frame = options_frame(result)
    assert set(frame["key"]) == {option.candidate.key for option in result.considered}
    assert not set(frame["key"]) & {option.candidate.key for option in result.excluded}
    ranked = frame.dropna(subset=["rank"]).sort_values("rank")
    assert list(ranked["key"]) == [option.candidate.key for option in result.shortlist]
    figure = tradeoff_chart(frame, goal="throughput", usable_gib=72.0)
    points = sum(len(trace.x) for trace in figure.data)
    assert points == len(frame)
    assert "output tokens per second" in figure.layout.yaxis.title.text
    labels = [text for trace in figure.data for text in trace.text if text]
    assert "#1" in labels


def test_a_question_where_nothing_fits_draws_an_empty_chart_without_failing():
    result = answer(Question(model="70B", hardware="laptop-cpu", goal="latency"))
    frame = options_frame(result)
    figure = tradeoff_chart(frame, goal="latency", usable_gib=28.8)
    assert sum(len(trace.x) for trace in figure.data) == len(frame)
