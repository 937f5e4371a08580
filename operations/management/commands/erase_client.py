import json

from django.core.management.base import BaseCommand, CommandError

from hits.errors import HitStoreError
from operations.privacy import UnknownClient, erase_client, report_dict


class Command(BaseCommand):
    help = "Right to erasure: delete a client and all their data, except cases under legal hold."

    def add_arguments(self, parser):
        parser.add_argument("client", help="client id (reference)")

    def handle(self, *args, client: str, **options):
        try:
            report = erase_client(client)
        except UnknownClient as exc:
            raise CommandError(str(exc)) from None
        except HitStoreError as exc:
            raise CommandError(
                f"nothing erased: Elasticsearch failed ({exc}); run the command again"
            ) from None
        self.stdout.write(json.dumps(report_dict(report), indent=2))
        if report.cases_kept_under_legal_hold:
            self.stdout.write(
                f"kept under legal hold: case(s) {', '.join(map(str, report.cases_kept_under_legal_hold))}"
            )
