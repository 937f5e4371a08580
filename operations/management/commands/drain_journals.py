from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from operations.journals import drain_journals


class Command(BaseCommand):
    help = (
        "Write what this machine's journals hold (hits, corpus posts, image and video "
        "fingerprints kept while Elasticsearch was unreachable). Run it on a crawl node before "
        "retiring it: it fails, and keeps everything, while anything is still waiting."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        drained = drain_journals(
            settings.BODYGUARD_ELASTICSEARCH_URL,
            settings.BODYGUARD_INDEX_PREFIX,
            settings.BODYGUARD_JOURNAL_DIR,
            settings.BODYGUARD_ES_TIMEOUT_S,
        )
        for d in drained:
            line = (
                f"{d.kind}: {d.outcome.replayed} written, {d.outcome.remaining} waiting, "
                f"{d.outcome.dead_lettered} refused (dead letters) ({d.path})"
            )
            if d.error:
                line += f": {d.error}"
            self.stdout.write(line)
        waiting = [d for d in drained if d.outcome.remaining or d.error]
        if waiting:
            raise CommandError(
                f"{sum(d.outcome.remaining for d in waiting)} record(s) still waiting in "
                f"{', '.join(str(d.path) for d in waiting)}: nothing was lost; run the command "
                "again once Elasticsearch answers, before retiring this machine"
            )
        for d in drained:
            if d.dead_letters:
                self.stdout.write(
                    f"{d.kind}: {d.dead_letters} record(s) Elasticsearch refused are kept in "
                    f"{d.dead_letters_dir}: copy them off this machine before retiring it"
                )
