from django.core.management.base import BaseCommand, CommandError

from takedowns.evidence import verify_evidence


class Command(BaseCommand):
    help = (
        "Recompute the SHA-256 of every evidence file and report any that changed or went missing."
    )

    def handle(self, *args, **options):
        report = verify_evidence()
        for name in report.changed:
            self.stderr.write(f"CHANGED: {name}")
        for name in report.missing:
            self.stderr.write(f"MISSING: {name}")
        if not report.ok:
            raise CommandError(
                f"{len(report.changed)} changed, {len(report.missing)} missing of {report.checked} file(s)"
            )
        self.stdout.write(f"{report.checked} evidence file(s) verified, none changed or missing")
