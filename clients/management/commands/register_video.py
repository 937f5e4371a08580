from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from clients.models import Client
from clients.videos import VideoRegistrationError, register_video
from matching.videos import MAX_VIDEO_BYTES


class Command(BaseCommand):
    help = (
        "Register a client video by its hashes (MD5 and frame fingerprints; the file is read "
        "in memory and never copied), then look for it among the videos already crawled. "
        "Usage: register_video CLIENT LABEL FILE, or register_video CLIENT FILE [--label L]."
    )

    def add_arguments(self, parser):
        parser.add_argument("client", help="client id (reference)")
        parser.add_argument(
            "label_and_file",
            nargs="+",
            metavar="[LABEL] FILE",
            help="neutral label for staff (default: video N), then the video file",
        )
        parser.add_argument("--label", help="neutral label for staff (default: video N)")

    def handle(self, *args, client: str, label_and_file: list[str], label: str | None, **options):
        if len(label_and_file) > 2:
            raise CommandError("expected CLIENT [LABEL] FILE: quote a label that has spaces")
        if len(label_and_file) == 2:
            if label:
                raise CommandError("give the label once: as an argument or with --label")
            label = label_and_file[0]
        file = Path(label_and_file[-1])
        found = Client.objects.filter(reference=client).first()
        if found is None:
            raise CommandError(f"no client {client!r}")
        try:
            size = file.stat().st_size
            if size > MAX_VIDEO_BYTES:
                raise CommandError(
                    f"{file}: {size} bytes, larger than the {MAX_VIDEO_BYTES}-byte limit "
                    "for a video: trim or compress it"
                )
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"{file}: {exc}") from None
        label = label or f"video {found.videos.count() + 1}"
        try:
            result = register_video(found, label, data)
        except VideoRegistrationError as exc:
            raise CommandError(str(exc)) from None
        del data
        self.stdout.write(
            f"{client}/{result.label}: {result.frames} frames hashed "
            f"({result.variants} variants), {result.duration_s:.1f} s, MD5 {result.md5}; "
            "the video itself is not stored"
        )
        if result.retro is not None:
            retro = result.retro
            self.stdout.write(
                f"retro-match: {retro.videos_matched} crawled video(s) match, "
                f"{retro.hits_created} new hit(s)"
                + (" (only the closest crawled videos were compared)" if retro.truncated else "")
            )
        else:
            self.stderr.write(
                f"retro-match not run (Elasticsearch: {result.retro_error}); crawls will still match"
            )
