import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from operations.privacy import UnknownClient, export_client


class Command(BaseCommand):
    help = "Right of access: write everything held about a client as JSON (stdout or --output)."

    def add_arguments(self, parser):
        parser.add_argument("client", help="client id (reference)")
        parser.add_argument("--output", type=Path)

    def handle(self, *args, client: str, output: Path | None, **options):
        try:
            data = export_client(client)
        except UnknownClient as exc:
            raise CommandError(str(exc)) from None
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if output:
            output.write_text(text, encoding="utf-8")
            self.stdout.write(f"written to {output}")
        else:
            self.stdout.write(text)
