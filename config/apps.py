from django.apps import AppConfig


class ConfigAppConfig(AppConfig):
    """The project package is also an app so it can carry the `monitor` command."""

    name = "config"
    label = "bodyguard_config"
    verbose_name = "Bodyguard"
