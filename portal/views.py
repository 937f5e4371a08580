"""The victim's space, /espace/: calm pages, nothing from a crawled page but a site's name."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from alerts.services import LinkState, client_from_token, first_name
from alerts.views import PreferencesForm
from clients.models import Client, Consent, Mandate
from hits.errors import HitStoreError
from portal import access
from portal.export import portal_export
from portal.forms import ConsentForm, EmailForm, ErasureForm, MandateForm, ReportForm
from portal.mandates import (
    consents,
    mandate_text,
    record_consent,
    revoke_mandate,
    sign_mandate,
    valid_mandate,
)
from portal.overview import overview
from portal.reports import report_links
from takedowns.access import client_address
from takedowns.models import Case
from takedowns.services import audit

View = Callable[..., HttpResponse]


def _language(client: Client | None) -> str:
    if client is not None and client.language in {"fr", "en"}:
        return client.language
    return translation.get_language() or "fr"


def page(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    client = getattr(request, "portal_client", None)
    return render(
        request,
        template,
        {
            "portal_client": client,
            "first_name": first_name(client) if client else "",
            "exit_url": settings.BODYGUARD_PORTAL_EXIT_URL,
            **context,
        },
        status=status,
    )


def signed_in(view: View) -> View:
    """Her session or the sign-in page; her language; never cached (a shared device's back
    button must not bring a page back)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        client = access.current_client(request)
        if client is None:
            response: HttpResponse = redirect("portal:sign_in")
            access.end_session(request, response)
            return response
        request.portal_client = client  # type: ignore[attr-defined]
        with translation.override(_language(client)):
            response = view(request, *args, **kwargs)
        access.refresh_cookie(request, response)
        return response

    return never_cache(wrapper)


@never_cache
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and access.current_client(request) is not None:
        return redirect("portal:overview")
    form = EmailForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome = access.request_link(form.cleaned_data["email"], request)
        if outcome.limited:
            return page(request, "portal/sign_in.html", {"form": EmailForm(), "limited": True}, 429)
        return page(request, "portal/link_sent.html", {})
    return page(request, "portal/sign_in.html", {"form": form})


@never_cache
def link(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; the POST it sends uses the link up (mail scanners only GET)."""
    if request.method == "POST":
        try:
            client = access.consume_link(token)
        except access.LinkRefused as refused:
            return page(request, "portal/link_refused.html", {"expired": refused.expired}, 410)
        response = redirect("portal:overview")
        access.start_session(response, request, client)
        return response
    if not access.link_is_open(token):
        return page(request, "portal/link_refused.html", {}, 410)
    return page(request, "portal/link_confirm.html", {})


@require_POST
@never_cache
def sign_out(request: HttpRequest) -> HttpResponse:
    client = access.current_client(request)
    response = redirect("portal:sign_in")
    if client is not None:
        audit(f"client:{client.reference}", "portal_sign_out", f"client:{client.reference}")
    access.end_session(request, response)
    return response


@signed_in
def situation(request: HttpRequest) -> HttpResponse:
    client: Client = request.portal_client  # type: ignore[attr-defined]
    return page(request, "portal/overview.html", {"overview": overview(client)})


@signed_in
def report(request: HttpRequest) -> HttpResponse:
    client: Client = request.portal_client  # type: ignore[attr-defined]
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            done = report_links(
                client,
                form.cleaned_data["links"],
                form.cleaned_data["note"],
                ip=client_address(request),
            )
        except HitStoreError:
            return page(request, "portal/report.html", {"form": form, "unavailable": True}, 503)
        return redirect(f"{reverse('portal:reported')}?n={len(done)}")
    return page(request, "portal/report.html", {"form": form})


@signed_in
def reported(request: HttpRequest) -> HttpResponse:
    try:
        count = max(1, min(10, int(request.GET.get("n", "1"))))
    except ValueError:
        count = 1
    return page(request, "portal/reported.html", {"count": count})


def _save_preferences(request: HttpRequest, client: Client) -> tuple[PreferencesForm, bool]:
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
    return form, saved


@signed_in
def preferences(request: HttpRequest) -> HttpResponse:
    client: Client = request.portal_client  # type: ignore[attr-defined]
    form, saved = _save_preferences(request, client)
    client.refresh_from_db()
    with translation.override(_language(client)):
        return page(request, "portal/preferences.html", {"form": form, "saved": saved})


@never_cache
def email_preferences(request: HttpRequest, token: str) -> HttpResponse:
    """The link at the bottom of every alert email: no sign-in, the signed link is the key
    (as in an unsubscribe link), for her preferences only; the rest of her space asks for a
    sign-in link."""
    check = client_from_token(token)
    if check.client is None:
        # Calm and identical for every refusal but expiry: never says whose link it was.
        expired = check.state == LinkState.EXPIRED
        return page(
            request,
            "portal/preferences_refused.html",
            {"expired": expired},
            status=410 if expired else 404,
        )
    client = check.client
    form, saved = _save_preferences(request, client)
    client.refresh_from_db()
    with translation.override(_language(client)):
        return page(
            request,
            "portal/preferences.html",
            {"form": form, "saved": saved, "by_link": True, "first_name": first_name(client)},
        )


@signed_in
def data(request: HttpRequest) -> HttpResponse:
    return page(request, "portal/data.html", {})


@signed_in
def data_json(request: HttpRequest) -> HttpResponse:
    client: Client = request.portal_client  # type: ignore[attr-defined]
    audit(f"client:{client.reference}", "portal_export", f"client:{client.reference}")
    body = json.dumps(portal_export(client), indent=2, ensure_ascii=False)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="mes-donnees.json"'
    return response


@signed_in
def erase(request: HttpRequest) -> HttpResponse:
    """Withdrawing her consent: everything erased after a confirmation, except cases a court
    or a complaint needs (legal hold), which she is told about in plain words."""
    client: Client = request.portal_client  # type: ignore[attr-defined]
    held = Case.objects.filter(client=client, legal_hold=True).count()
    form = ErasureForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        from operations.privacy import erase_client

        audit(f"client:{client.reference}", "portal_erasure", f"client:{client.reference}")
        language = _language(client)
        try:
            report = erase_client(client.reference)
        except HitStoreError:
            return page(
                request, "portal/erase.html", {"form": form, "held": held, "unavailable": True}, 503
            )
        with translation.override(language):
            response = render(
                request,
                "portal/erased.html",
                {
                    "kept": len(report.cases_kept_under_legal_hold),
                    "exit_url": settings.BODYGUARD_PORTAL_EXIT_URL,
                },
            )
        access.end_session(request, response)
        return response
    return page(request, "portal/erase.html", {"form": form, "held": held})


@signed_in
def mandate(request: HttpRequest) -> HttpResponse:
    client: Client = request.portal_client  # type: ignore[attr-defined]
    current = valid_mandate(client)
    form = MandateForm(
        request.POST or None,
        initial={"full_name": client.display_name},
    )
    if request.method == "POST" and form.is_valid():
        sign_mandate(
            client,
            full_name=form.cleaned_data["full_name"],
            postal_address=form.cleaned_data["postal_address"],
            scopes=form.cleaned_data["scopes"],
            signature=form.cleaned_data["signature"],
            ip=client_address(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        return redirect(f"{reverse('portal:mandate')}?signe=1")
    preview = mandate_text(
        full_name="…",
        postal_address="",
        scopes=[],
        language=_language(client),
        notifier=settings.BODYGUARD_NOTIFIER.name,
    )
    return page(
        request,
        "portal/mandate.html",
        {
            "form": form,
            "current": current,
            "past": Mandate.objects.filter(client=client, revoked_at__isnull=False)[:10],
            "just_signed": request.GET.get("signe") == "1",
            "just_revoked": request.GET.get("revoque") == "1",
            "preview": preview,
            "consents": [
                (use, label, consents(client).get(use)) for use, label in Consent.Use.choices
            ],
        },
    )


@require_POST
@signed_in
def mandate_revoke(request: HttpRequest) -> HttpResponse:
    client: Client = request.portal_client  # type: ignore[attr-defined]
    revoke_mandate(client)
    return redirect(f"{reverse('portal:mandate')}?revoque=1")


@require_POST
@signed_in
def consent(request: HttpRequest) -> HttpResponse:
    client: Client = request.portal_client  # type: ignore[attr-defined]
    form = ConsentForm(request.POST)
    if form.is_valid():
        record_consent(
            client, form.cleaned_data["use"], form.cleaned_data["given"], ip=client_address(request)
        )
    return HttpResponseRedirect(f"{reverse('portal:mandate')}#consents")


@require_GET
def script(request: HttpRequest) -> HttpResponse:
    """The space's only script, from our own origin (the CSP allows no inline script)."""
    response = HttpResponse(
        render_to_string("portal/portal.js"), content_type="text/javascript; charset=utf-8"
    )
    response["Cache-Control"] = "public, max-age=3600"
    return response
