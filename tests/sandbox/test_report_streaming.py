"""The report's streaming panel: counts per stage and whether they reconcile."""

from __future__ import annotations

from prodline.sandbox import report

RECONCILED = {"sent": 306, "retried": 0, "failed": 0, "delivered": 300, "errored": 6, "objects": 1,
              "ETL stream in": 300, "ETL stream curated": 285, "ETL stream quarantined": 15,
              "ETL stream duplicates": 0}


def test_counts_that_reconcile_are_shown_as_holding():
    panel = report.streaming_panel(RECONCILED)
    assert "Streaming ingestion" in panel and "does not hold" not in panel
    assert panel.count('class="ok"') == 3


def test_a_record_lost_between_stages_is_shown_as_not_holding():
    panel = report.streaming_panel({**RECONCILED, "delivered": 299})
    assert panel.count("does not hold") == 2  # sent != delivered + errored, and the ETL read more than delivered


def test_the_report_has_the_panel_only_when_events_were_streamed():
    assert "Streaming ingestion" in report.render("dev", [], [], {}, streaming=RECONCILED)
    assert "Streaming ingestion" not in report.render("dev", [], [], {})
