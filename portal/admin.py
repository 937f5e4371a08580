"""The team's side of the space: inviting a client (an action on the client list) and reading
her mandates and consents (read-only: only she signs, revokes, agrees or withdraws)."""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from clients.models import Client, Consent, Mandate
from portal.access import new_link, send_in_background, sign_in_message
from portal.models import ReportedLink
from takedowns.services import audit


@admin.action(description=_("Invite to the victim space (email a sign-in link)"))
def invite_to_portal(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Client]) -> None:
    sent = []
    for client in queryset.filter(active=True):
        url = new_link(client, purpose="invitation")
        send_in_background([sign_in_message(client, url, invitation=True)])
        audit(request.user.get_username(), "portal_invitation", f"client:{client.reference}")
        sent.append(client.reference)
    messages.success(
        request,
        _("Invitation emailed to: %(clients)s") % {"clients": ", ".join(sent) or "-"},
    )


def _add_invitation_action() -> None:
    client_admin = admin.site.get_model_admin(Client)
    actions = list(client_admin.actions or [])
    if invite_to_portal not in actions:
        client_admin.actions = [*actions, invite_to_portal]


# The clients' admin is registered first (INSTALLED_APPS order).
with contextlib.suppress(NotRegistered):
    _add_invitation_action()


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Mandate)
class MandateAdmin(ReadOnly):
    list_display = ("client", "full_name", "signed_at", "revoked_at")
    list_filter = ("revoked_at",)
    readonly_fields = [f.name for f in Mandate._meta.fields]


@admin.register(Consent)
class ConsentAdmin(ReadOnly):
    list_display = ("client", "use", "given", "at")
    readonly_fields = [f.name for f in Consent._meta.fields]


@admin.register(ReportedLink)
class ReportedLinkAdmin(ReadOnly):
    list_display = ("client", "reported_at", "outcome", "case_id")
    readonly_fields = [f.name for f in ReportedLink._meta.fields]
