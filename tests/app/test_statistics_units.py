"""The statistics' own arithmetic, in process (tests/app/test_statistics.py reads them back from a real server):
rows and executions counted as Triton counts them, every duration in whole nanoseconds, answers split by outcome."""

from __future__ import annotations

import time

from model_server.statistics import Duration, ModelStatistics


def test_a_duration_adds_its_count_and_whole_nanoseconds() -> None:
    duration = Duration()
    assert duration.as_json() == {"count": 0, "ns": 0}
    duration.add(0.25)
    duration.add(1.5e-9, count=3)  # 1.5 ns is truncated to 1
    assert duration.as_json() == {"count": 4, "ns": 250_000_001}


def test_an_execution_counts_one_batch_its_rows_and_its_time_and_stamps_the_last_inference() -> None:
    stats = ModelStatistics()
    before = int(time.time() * 1000)
    stats.executed(0.002, rows=32)
    stats.executed(0.001, rows=1)
    after = int(time.time() * 1000)
    assert (stats.execution_count, stats.inference_count) == (2, 33)
    assert stats.compute_infer.as_json() == {"count": 2, "ns": 3_000_000}
    assert before <= stats.last_inference_ms <= after


def test_answers_count_as_success_or_failure_by_outcome() -> None:
    stats = ModelStatistics()
    stats.answered(True, 0.5)
    stats.answered(True, 0.25)
    stats.answered(False, 0.125)
    assert stats.success.as_json() == {"count": 2, "ns": 750_000_000}
    assert stats.fail.as_json() == {"count": 1, "ns": 125_000_000}


def test_the_json_has_triton_s_statistics_shape_with_every_figure() -> None:
    stats = ModelStatistics()
    stats.executed(0.004, rows=8)
    stats.answered(True, 0.01)
    stats.answered(False, 0.02)
    stats.queue.add(0.003)
    assert stats.as_json("digits", "3") == {"model_stats": [{
        "name": "digits", "version": "3", "last_inference": stats.last_inference_ms,
        "inference_count": 8, "execution_count": 1,
        "inference_stats": {"success": {"count": 1, "ns": 10_000_000}, "fail": {"count": 1, "ns": 20_000_000},
                            "queue": {"count": 1, "ns": 3_000_000}, "compute_infer": {"count": 1, "ns": 4_000_000}}}]}
    assert ModelStatistics().as_json("m", "1")["model_stats"][0]["last_inference"] == 0
