"""The link in every alert email: nobody can forge one, it expires, and the page it opens says
as little as possible about who the client is."""

from __future__ import annotations

import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core import signing

from alerts.models import PreferencesLink
from alerts.services import PREFERENCES_LINK_LIFETIME, preferences_url
from clients.models import Client
from config.environment import load

pytestmark = pytest.mark.django_db

# The key every installation shared until now, and how links were signed with it.
PUBLIC_DEFAULT_KEY = "dev-only-insecure-key-set-DJANGO_SECRET_KEY-in-production"
OLD_SALT = "alerts.preferences"


@pytest.fixture
def jeanne() -> Client:
    return Client.objects.create(
        reference="jeanne-dupont", display_name="Jeanne Dupont", email="jeanne@example.org"
    )


def _path(url: str) -> str:
    match = re.search(r"(/preferences/[^/\s]+/)$", url)
    assert match, url
    return match.group(1)


def test_a_link_forged_from_the_clients_slug_is_refused(client, jeanne):
    for key in (PUBLIC_DEFAULT_KEY, None):  # the old public key, and even this install's key
        for salt in (OLD_SALT, "alerts.preferences.v2"):
            forged = signing.Signer(key=key, salt=salt).sign_object(jeanne.reference)
            response = client.get(f"/preferences/{forged}/")
            assert response.status_code == 404, (key, salt)
            assert "Jeanne" not in response.content.decode()
            response = client.post(f"/preferences/{forged}/", {"alert_preference": "none"})
            assert response.status_code == 404
    jeanne.refresh_from_db()
    assert jeanne.alert_preference != "none"


def test_without_a_configured_key_each_install_generates_its_own_private_one(tmp_path: Path):
    first = load({"BODYGUARD_VAR_DIR": str(tmp_path / "a")})
    again = load({"BODYGUARD_VAR_DIR": str(tmp_path / "a")})
    other = load({"BODYGUARD_VAR_DIR": str(tmp_path / "b")})
    assert first.secret_key != PUBLIC_DEFAULT_KEY and len(first.secret_key) >= 50
    assert again.secret_key == first.secret_key  # sessions and links survive a restart
    assert other.secret_key != first.secret_key
    mode = stat.S_IMODE((tmp_path / "a" / "secret_key").stat().st_mode)
    assert mode == 0o600
    configured = load({"BODYGUARD_VAR_DIR": str(tmp_path / "c"), "DJANGO_SECRET_KEY": "k" * 60})
    assert configured.secret_key == "k" * 60 and not (tmp_path / "c" / "secret_key").exists()


def test_the_link_carries_no_trace_of_who_the_client_is(jeanne):
    url = preferences_url(jeanne)
    assert "jeanne" not in url.lower() and "dupont" not in url.lower()
    # A new link in every email.
    assert preferences_url(jeanne) != url
    assert PreferencesLink.objects.filter(client=jeanne).count() == 2


def test_an_expired_link_is_refused_with_a_calm_message(client, jeanne):
    old = preferences_url(
        jeanne, now=datetime.now(UTC) - PREFERENCES_LINK_LIFETIME - timedelta(hours=1)
    )
    response = client.get(_path(old))
    assert response.status_code == 410
    page = response.content.decode()
    assert "Ce lien a expiré" in page and "3018" in page
    assert "Jeanne" not in page and "<form" not in page
    client.post(
        _path(old), {"alert_preference": "none", "alert_detail": "summary", "language": "fr"}
    )
    jeanne.refresh_from_db()
    assert jeanne.alert_preference != "none"
    fresh = preferences_url(
        jeanne, now=datetime.now(UTC) - PREFERENCES_LINK_LIFETIME + timedelta(hours=1)
    )
    assert client.get(_path(fresh)).status_code == 200


def test_the_page_greets_the_client_by_her_first_name_only(client, jeanne):
    page = client.get(_path(preferences_url(jeanne))).content.decode()
    assert "Bonjour Jeanne." in page
    assert "Dupont" not in page and "jeanne-dupont" not in page and "example.org" not in page
