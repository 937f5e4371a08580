from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clients.hashlists import SignalType, actor_of_command, export_hash_list
from clients.models import Client


class Command(BaseCommand):
    help = (
        "Write a client's registered hashes as a hash list (CSV: signal_type,signal,quality,"
        "label; docs/hash-lists.md), to hand to StopNCII / Take It Down style programmes. "
        "Hashes only: never a photo or a video. Written to the audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("client", help="client id (reference)")
        parser.add_argument("--output", type=Path, help="file to write (default: standard output)")
        parser.add_argument(
            "--types",
            default=",".join(SignalType),
            help="signal types to export, comma-separated (default: pdq,video_md5,vpdq)",
        )

    def handle(self, *args, client: str, output: Path | None, types: str, **options):
        found = Client.objects.filter(reference=client).first()
        if found is None:
            raise CommandError(f"no client {client!r}")
        try:
            wanted = [SignalType(t.strip().lower()) for t in types.split(",") if t.strip()]
        except ValueError:
            raise CommandError(
                f"--types {types!r}: use signal types among {', '.join(SignalType)}"
            ) from None
        report = export_hash_list(found, actor_of_command(), wanted)
        if output is None:
            self.stdout.write(report.text, ending="")
            return
        try:
            output.write_text(report.text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"{output}: {exc}") from None
        counts = ", ".join(f"{n} {kind}" for kind, n in sorted(report.counts.items()))
        self.stderr.write(f"{client}: {counts or 'no hashes'} written to {output}")
