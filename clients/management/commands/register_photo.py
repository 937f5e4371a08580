from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clients.models import Client
from clients.photos import PhotoError, register_photo


class Command(BaseCommand):
    help = (
        "Register a client photo by its hashes (the file is read in memory and never copied), "
        "then look for it among the images already crawled."
    )

    def add_arguments(self, parser):
        parser.add_argument("client", help="client id (reference)")
        parser.add_argument("file", type=Path)
        parser.add_argument("--label", help="neutral label for staff (default: photo N)")

    def handle(self, *args, client: str, file: Path, label: str | None, **options):
        found = Client.objects.filter(reference=client).first()
        if found is None:
            raise CommandError(f"no client {client!r}")
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"{file}: {exc}") from None
        label = label or f"photo {found.photos.count() + 1}"
        try:
            result = register_photo(found, label, data)
        except PhotoError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{client}/{label}: {result.variants} hashes registered")
        if result.retro is not None:
            self.stdout.write(
                f"retro-match: {result.retro.images_matched} crawled image(s) match, {result.retro.hits_created} new hit(s)"
            )
        else:
            self.stderr.write(
                f"retro-match not run (Elasticsearch: {result.retro_error}); crawls will still match"
            )
