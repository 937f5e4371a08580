"""Django's flush, allowed to empty the append-only audit log (it empties every table)."""

from typing import Any

from django.core.management.commands.flush import Command as DjangoFlush

from takedowns.auditlog import flushing


class Command(DjangoFlush):
    def handle(self, **options: Any) -> None:
        with flushing():
            super().handle(**options)
