"""The page a client reaches from the link in every alert email: how often, how detailed."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from alerts.services import LinkState, client_from_token, first_name
from clients.models import Client
from takedowns.services import audit


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = Client
        fields = ("alert_preference", "alert_detail", "language")
        labels = {
            "alert_preference": _("How often"),
            "alert_detail": _("How much detail"),
            "language": _("Language"),
        }
        widgets = {
            "alert_preference": forms.RadioSelect,
            "alert_detail": forms.RadioSelect,
            "language": forms.RadioSelect,
        }


def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """No sign-in: the signed link is the key, as in an unsubscribe link."""
    check = client_from_token(token)
    if check.client is None:
        # Calm and identical for every refusal but expiry: the page never says whether a
        # link belonged to somebody.
        expired = check.state == LinkState.EXPIRED
        return render(
            request,
            "alerts/link_refused.html",
            {"expired": expired},
            status=410 if expired else 404,
        )
    client = check.client
    before = (client.alert_preference, client.alert_detail, client.language)
    form = PreferencesForm(request.POST or None, instance=client)
    saved = False
    if request.method == "POST" and form.is_valid():
        client = form.save()
        saved = True
        audit(
            f"client:{client.reference}",
            "alert_preferences",
            f"client:{client.reference}",
            f"{before} -> {(client.alert_preference, client.alert_detail, client.language)}",
        )
    with translation.override(client.language):
        return render(
            request,
            "alerts/preferences.html",
            # The first name only: the link may have been forwarded or found in a mailbox.
            {"form": form, "first_name": first_name(client), "saved": saved},
        )
