"""The three roles, as Django groups kept in step with the code after every migration."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

ROLES: dict[str, list[tuple[str, str]]] = {
    # Register and edit clients.
    "staff": [("clients", "add_client"), ("clients", "change_client"), ("clients", "view_client"),
              ("clients", "add_watchterm"), ("clients", "change_watchterm"), ("clients", "delete_watchterm"),
              ("clients", "view_watchterm"), ("clients", "add_clientphoto"), ("clients", "view_clientphoto"),
              ("crawlers", "view_crawlrun")],
    # The takedown team.
    "reviewer": [("takedowns", "review_hits"), ("takedowns", "view_case"), ("takedowns", "change_case"),
                 ("takedowns", "view_casehit"), ("takedowns", "view_notice"), ("takedowns", "view_hostcontact"),
                 ("takedowns", "add_hostcontact"), ("takedowns", "change_hostcontact"),
                 ("takedowns", "view_allowlistentry"), ("takedowns", "view_recheck"),
                 ("takedowns", "view_casetransition"), ("alerts", "view_alert")],
}  # fmt: skip


def sync_roles(**_: Any) -> None:
    for name, perms in ROLES.items():
        group, _created = Group.objects.get_or_create(name=name)
        wanted = [
            p
            for app, codename in perms
            for p in Permission.objects.filter(content_type__app_label=app, codename=codename)
        ]
        group.permissions.set(wanted)
    Group.objects.get_or_create(name="admin")  # administrators are superusers
