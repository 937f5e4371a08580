from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TakedownsConfig(AppConfig):
    name = "takedowns"
    verbose_name = "Takedowns"

    def ready(self) -> None:
        from takedowns import auditlog
        from takedowns.roles import sync_roles

        auditlog.connect()
        post_migrate.connect(sync_roles, sender=self)
