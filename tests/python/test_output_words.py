"""What the command line prints says true things in plain words: a count meets its noun in the right number
("1 day", "[ALERT] 1 new anomaly.")."""

from __future__ import annotations

from cexflow.agent import CycleResult
from cexflow.cli import main as cexflow_main


def test_the_agents_alert_line_counts_in_the_right_number():
    # the contract's `[ALERT] N new anomalies. Report: PATH`, with the singular for one; an episode without
    # days gives no day lines, so the alert lines alone are printed
    def lines(n_alerts: int) -> list[str]:
        report = {"report": "alerts/r.md", "alerts": [{"days": []}] * n_alerts, "updates": [], "seen": []}
        return CycleResult(reports=[report]).lines()

    assert lines(1) == ["[ALERT] 1 new anomaly. Report: alerts/r.md"]
    assert lines(2) == ["[ALERT] 2 new anomalies. Report: alerts/r.md"]
    assert lines(0) == ["[OK] No new anomalies."]


def test_a_one_day_sample_says_one_day(tmp_path, capsys):
    assert cexflow_main(["sample", "--out", str(tmp_path / "s.csv"), "--days", "1", "--planted", "0",
                         "--start", "2025-03-01"]) == 0
    printed = capsys.readouterr().out
    assert " for 1 day 2025-03-01..2025-03-01, 0 planted days, to " in printed
