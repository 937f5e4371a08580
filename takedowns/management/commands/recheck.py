from django.core.management.base import BaseCommand

from takedowns.recheck import recheck_open_cases


class Command(BaseCommand):
    help = (
        "Fetch every URL of open cases again: gone content moves its case to 'removed' (with "
        "the response kept as proof), content still online long after a notice raises a "
        "reminder, then an escalation. The monitor runs this every BODYGUARD_RECHECK_HOURS."
    )

    def handle(self, *args, **options):
        report = recheck_open_cases()
        self.stdout.write(
            f"{report.checked} URL(s) checked: {report.gone} gone, {report.present} still online, "
            f"{report.blocked} blocked, {report.unknown} unknown (no clear answer)"
        )
        for label, ids in (
            ("removed", report.cases_removed),
            ("reminder due", report.reminders),
            ("escalated", report.escalations),
        ):
            if ids:
                self.stdout.write(f"cases {label}: {', '.join(map(str, ids))}")
