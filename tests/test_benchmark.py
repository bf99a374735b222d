"""The benchmark judges its own figures: PASS or FAIL beside each target, exit code 1 on a miss.

(Only the judging; the measuring is timing, which has no place in a test.)
"""

from __future__ import annotations

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
