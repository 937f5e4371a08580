from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clients.services import ClientFileError, import_client_file


class Command(BaseCommand):
    help = "Register or update clients from a YAML file (idempotent: re-importing updates)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)

    def handle(self, *args, file: Path, **options):
        try:
            report = import_client_file(file)
        except ClientFileError as exc:
            raise CommandError(f"{exc}\nNothing was imported.") from None
        for label, refs in (
            ("created", report.created),
            ("updated", report.updated),
            ("unchanged", report.unchanged),
        ):
            if refs:
                self.stdout.write(f"{label}: {', '.join(refs)}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{file}: {sum(map(len, (report.created, report.updated, report.unchanged)))} client(s)"
            )
        )
