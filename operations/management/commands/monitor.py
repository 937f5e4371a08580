from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.sources import SourceError
from operations.scheduler import (
    CycleReport,
    MonitorAlreadyRunning,
    build_scheduler,
    configured_sources,
    run_cycle,
    single_monitor,
)


class Command(BaseCommand):
    help = (
        "Crawl every enabled source at its interval and send pending alerts. "
        "Run exactly one per deployment. --once runs one full cycle and exits."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one full cycle and exit")
        parser.add_argument(
            "--full",
            action="store_true",
            help="with --once: re-crawl everything, not only what changed",
        )
        parser.add_argument(
            "--source", action="append", default=[], help="only this source id (repeatable)"
        )

    def handle(self, *args, once: bool, full: bool, source: list[str], **options):
        try:
            sources = configured_sources()
        except SourceError as exc:
            raise CommandError(str(exc)) from None
        unknown = sorted(set(source) - set(sources))
        if unknown:
            raise CommandError(
                f"unknown source(s) {', '.join(unknown)}; known: {', '.join(sorted(sources))}"
            )
        chosen = [s for s in sources.values() if (s.id in source if source else s.enabled)]
        try:
            with single_monitor(Path(settings.BODYGUARD_VAR_DIR)):
                if once:
                    self._print(run_cycle(chosen, full=full))
                    return
                if not chosen:
                    self.stderr.write("no enabled source: only alerts will be processed")
                scheduler = build_scheduler(chosen)
                self.stdout.write(f"monitoring {len(chosen)} source(s); Ctrl-C to stop")
                try:
                    scheduler.start()
                except KeyboardInterrupt:
                    scheduler.shutdown(wait=False)
        except MonitorAlreadyRunning as exc:
            raise CommandError(str(exc)) from None

    def _print(self, report: CycleReport) -> None:
        for crawl in report.crawls:
            self.stdout.write(
                f"crawl {crawl.source_id}: {crawl.status} — {crawl.pages} page(s), {crawl.items} item(s), "
                f"{crawl.hits} hit(s), {crawl.new_hits} new. {crawl.message}"
            )
        alerts = report.alerts
        if alerts.error:
            self.stderr.write(f"alerts: {alerts.error}")
        if alerts.collect:
            self.stdout.write(
                f"alerts: {alerts.collect.alerts_created} new alert(s), {alerts.collect.cases_opened} case(s) opened"
            )
        if alerts.dispatch:
            self.stdout.write(f"emails: {alerts.dispatch.emails_sent} sent")
            for failure in alerts.dispatch.failures:
                self.stderr.write(f"email not sent (will retry): {failure}")
