from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clients.hashlists import (
    MAX_BYTES,
    HashListError,
    actor_of_command,
    check_hash_list,
    import_hash_list,
)
from clients.models import Client


class Command(BaseCommand):
    help = (
        "Watch for a partner's hash list on behalf of a client (CSV: signal_type,signal,"
        "quality,label; pdq lines become photos, video_md5/vpdq lines videos). The whole list "
        "is checked before anything is written. Written to the audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("client", help="client id (reference)")
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--check", action="store_true", help="only check the list; write nothing"
        )
        parser.add_argument(
            "--no-retro",
            action="store_true",
            help="do not search the images and videos already crawled",
        )

    def handle(self, *args, client: str, file: Path, check: bool, no_retro: bool, **options):
        found = Client.objects.filter(reference=client).first()
        if found is None:
            raise CommandError(f"no client {client!r}")
        try:
            if file.stat().st_size > MAX_BYTES:
                raise CommandError(
                    f"{file}: larger than {MAX_BYTES // (1024 * 1024)} MB, not a hash list: split it"
                )
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"{file}: {exc}") from None
        try:
            if check:
                report = check_hash_list(found, data, file.name)
                self.stdout.write(f"{client} (checked only, nothing written): {report.summary()}")
                return
            report = import_hash_list(
                found, data, actor_of_command(), file.name, retro=not no_retro
            )
        except HashListError as exc:
            raise CommandError(str(exc).replace(f"{file.name}: ", f"{file}: ", 1)) from None
        self.stdout.write(f"{client}: {report.summary()}")
        if report.photos_added or report.videos_added:
            self.stdout.write(f"retro-match: {report.retro_hits} new hit(s)")
        for error in report.retro_errors:
            self.stderr.write(f"retro-match not run ({error}); crawls will still match")
