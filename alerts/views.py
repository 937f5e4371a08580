"""The page a client reaches from the link in every alert email: how often, how detailed."""

from __future__ import annotations

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from alerts.services import client_from_token
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
    client = client_from_token(token)
    if client is None:
        raise Http404("unknown or altered link")
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
            {"form": form, "client": client, "saved": saved},
        )
