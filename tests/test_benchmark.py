"""The benchmark judges its own figures: PASS or FAIL beside each target, exit code 1 on a miss.

(Only the judging; the measuring is timing, which has no place in a test.)
"""

from __future__ import annotations

import pytest

from benchmarks import performance
from benchmarks.performance import Row, at_most, below


def test_targets_read_as_the_readme_writes_them_and_hold_at_their_bounds():
    assert str(below(3, "s")) == "< 3 s" and str(at_most(30, "%")) == "<= 30 %" and str(at_most(4)) == "<= 4"
    assert below(3, "s").met(2.99) and not below(3, "s").met(3.0)
    assert at_most(30, "%").met(30) and not at_most(30, "%").met(33)


def test_each_target_gets_a_verdict_and_a_miss_fails_the_run(capsys):
    rows = [
        Row("render: wall time", "1.92 s", 1.92, below(3, "s")),
        Row("render: peak memory", "106 MiB"),  # no target, no verdict
        Row("spread", "33 %", 33, at_most(30, "%")),
    ]
    assert performance.report(rows) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "| measure | result | target | verdict |",
        "|---|---|---|---|",
        "| render: wall time | 1.92 s | < 3 s | PASS |",
        "| render: peak memory | 106 MiB |  |  |",
        "| spread | 33 % | <= 30 % | FAIL |",
    ]
    assert "1 target(s) missed: spread" in captured.err


def test_a_run_that_meets_every_target_exits_zero(capsys):
    rows = [Row("chain", "4: a → b → c → d", 4, at_most(4)), Row("render", "2.50 s", 2.5, below(3, "s"))]
    assert performance.report(rows) == 0
    assert capsys.readouterr().out.count("| PASS |") == 2


def fixed_plus_linear(sizes, fixed: float, per_service: float, slowdown: float = 1.0, square: float = 0.0):
    """One round of program measurements: a fixed part plus a cost per service (plus a quadratic one)."""
    return [
        {
            "size": n,
            "seconds": (fixed + per_service * n + square * n * n) * slowdown,
            "cpu": (fixed + per_service * n + square * n * n) * slowdown,
            "resources": 100 + 14 * n,
        }
        for n in sizes
    ]


SIZES = (11, 50, 200, 500)


def verdicts(rows):
    return [(row.measure, row.verdict) for row in rows if row.target is not None]


@pytest.mark.parametrize("slowdown", [0.3, 1, 2.5, 10])
def test_a_verdict_means_the_same_on_a_fast_a_slow_or_a_busy_machine(slowdown):
    """Every time scaled alike (a machine `slowdown` times slower): not one verdict changes."""
    renders, floors = [(1.8, 107.0), (1.9, 108.0)], [0.45, 0.5]
    rounds = [fixed_plus_linear(SIZES, 0.6, 0.05), fixed_plus_linear(SIZES, 0.62, 0.051)]
    reference = verdicts(performance.render_rows(renders, floors)) + verdicts(performance.program_rows(rounds))
    slower = verdicts(
        performance.render_rows([(w * slowdown, m) for w, m in renders], [f * slowdown for f in floors])
    ) + verdicts(performance.program_rows([fixed_plus_linear(SIZES, 0.6, 0.05, slowdown)] * 2))
    assert slower == reference and all(v == "PASS" for _, v in reference)
    # No target is in seconds: each is a ratio of the same run's figures, or a count.
    rows = performance.render_rows(renders, floors) + performance.program_rows(rounds)
    assert all(row.target.unit != "s" for row in rows if row.target is not None)


def test_a_render_far_above_the_import_floor_fails():
    (ratio,) = [r for r in performance.render_rows([(6.0, 100.0)], [0.5]) if r.target is not None]
    assert ratio.value == 12.0 and ratio.verdict == "FAIL"
    (ratio,) = [r for r in performance.render_rows([(2.0, 100.0)], [0.5]) if r.target is not None]
    assert ratio.verdict == "PASS"


def test_a_program_that_grows_faster_than_linearly_fails_and_a_linear_one_passes():
    linear = performance.program_rows([fixed_plus_linear(SIZES, 1.0, 0.05)])
    assert verdicts(linear) == [("CPU time per added service: spread (max - min) / mean", "PASS")]
    quadratic = performance.program_rows([fixed_plus_linear(SIZES, 1.0, 0.05, square=0.0002)])
    assert verdicts(quadratic) == [("CPU time per added service: spread (max - min) / mean", "FAIL")]
    # The fixed part alone (a big stack for few services) fails nothing: it is not growth.
    heavy_base = performance.program_rows([fixed_plus_linear(SIZES, 20.0, 0.05)])
    assert [v for _, v in verdicts(heavy_base)] == ["PASS"]


def test_the_best_of_the_rounds_is_judged():
    noisy = fixed_plus_linear(SIZES, 1.0, 0.05)
    noisy[1] = {**noisy[1], "cpu": noisy[1]["cpu"] * 3}  # one slow spell in one round
    rows = performance.program_rows([noisy, fixed_plus_linear(SIZES, 1.0, 0.05)])
    assert [v for _, v in verdicts(rows)] == ["PASS"]
