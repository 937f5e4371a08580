from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Orchestration at the top of the flow: the monitor, back-scans, erasure, access, retention."""

    name = "operations"
    verbose_name = "Bodyguard operations"

    def ready(self) -> None:
        from operations import backscan

        backscan.connect_signals()
