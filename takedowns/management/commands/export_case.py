from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from takedowns.evidence import export_case
from takedowns.models import Case


class Command(BaseCommand):
    help = (
        "Write a case's evidence pack (WARC, manifest.json, French report HTML and PDF) as a ZIP."
    )

    def add_arguments(self, parser):
        parser.add_argument("case_id", type=int)
        parser.add_argument(
            "--output", type=Path, help="default: case-<id>.zip in the current folder"
        )
        parser.add_argument(
            "--who", default="command line", help="recorded in the chain of custody"
        )

    def handle(self, *args, case_id: int, output: Path | None, who: str, **options):
        if not Case.objects.filter(pk=case_id).exists():
            raise CommandError(f"no case {case_id}")
        path = output or Path(f"case-{case_id}.zip")
        path.write_bytes(export_case(case_id, who))
        self.stdout.write(f"written {path}")
