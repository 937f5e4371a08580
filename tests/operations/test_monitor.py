import pytest

from config.sources import Source, parse_interval
from operations.scheduler import MonitorAlreadyRunning, build_scheduler, single_monitor


def test_only_one_monitor_runs_per_deployment(tmp_path):
    with (
        single_monitor(tmp_path),
        pytest.raises(MonitorAlreadyRunning, match="one scheduler per deployment"),
        single_monitor(tmp_path),
    ):
        pass
    with single_monitor(tmp_path):
        pass


def test_each_source_is_scheduled_at_its_interval_one_instance_at_a_time():
    sources = [
        Source(
            id="a",
            kind="discourse",
            base_url="https://a.example",
            crawl_interval=parse_interval("15m"),
        ),
        Source(
            id="b",
            kind="discourse",
            base_url="https://b.example",
            crawl_interval=parse_interval("6h"),
        ),
    ]
    scheduler = build_scheduler(sources)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert jobs["crawl:a"].trigger.interval.total_seconds() == 900
    assert jobs["crawl:b"].trigger.interval.total_seconds() == 6 * 3600
    assert all(job.max_instances == 1 for job in jobs.values())
    assert {"alerts", "digest"} <= set(jobs)
