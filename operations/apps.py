from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_save


class OperationsConfig(AppConfig):
    """Orchestration at the top of the flow: the monitor, back-scans, erasure, access, retention."""

    name = "operations"
    verbose_name = "Bodyguard operations"

    def ready(self) -> None:
        from clients.models import Client

        post_save.connect(_registered_again, sender=Client, dispatch_uid="erasure-tombstone")

        from operations import backscan

        backscan.connect_signals()


def _registered_again(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """A client registered under an id erased before is watched again: lift its tombstone."""
    if created:
        from pathlib import Path

        from django.conf import settings

        from hits.tombstones import ErasedClients

        ErasedClients(Path(settings.BODYGUARD_JOURNAL_DIR)).lift(instance.reference)
