"""Behind a reverse proxy that terminates TLS, the team's forms still work (CSRF)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.test import Client as HttpClient

from config.environment import ConfigurationError, load
from tests.conftest import ROOT
from tests.takedowns.workbench import PASSWORD, make_user

pytestmark = pytest.mark.django_db(transaction=True)

SITE = "https://veille.example.org"
BROWSER: dict[str, Any] = {
    "HTTP_HOST": "veille.example.org",
    "HTTP_ORIGIN": SITE,
    "HTTP_X_FORWARDED_PROTO": "https",
}


def _sign_in(browser: HttpClient) -> int:
    browser.get("/login/", **BROWSER)
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        "/login/",
        {"username": "rev", "password": PASSWORD, "csrfmiddlewaretoken": token},
        **BROWSER,
    )
    return response.status_code


@pytest.fixture
def proxied(settings):
    settings.ALLOWED_HOSTS = ["veille.example.org"]
    make_user("rev", "reviewer")
    return settings


def _settings_with(environ: dict[str, str]) -> tuple[object, object]:
    """What config.settings makes of these environment variables, in a fresh process."""
    code = (
        "import json; from config import settings as s; "
        "print(json.dumps([s.SECURE_PROXY_SSL_HEADER, s.CSRF_TRUSTED_ORIGINS]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SECRET_KEY": "k" * 60, **environ},
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    header, origins = json.loads(out.stdout)
    return (tuple(header) if header else None), origins


def test_a_post_through_the_tls_proxy_passes_csrf_when_configured(proxied):
    header, origins = _settings_with(
        {"BODYGUARD_SITE_URL": SITE, "BODYGUARD_BEHIND_TLS_PROXY": "1"}
    )
    assert header == ("HTTP_X_FORWARDED_PROTO", "https") and origins == [SITE]
    proxied.SECURE_PROXY_SSL_HEADER, proxied.CSRF_TRUSTED_ORIGINS = header, origins
    assert _sign_in(HttpClient(enforce_csrf_checks=True)) == 302


def test_without_the_configuration_the_same_post_is_refused(proxied):
    env = load({"BODYGUARD_SITE_URL": "http://127.0.0.1:8000", "DJANGO_SECRET_KEY": "k" * 60})
    proxied.SECURE_PROXY_SSL_HEADER = env.proxy_ssl_header
    proxied.CSRF_TRUSTED_ORIGINS = list(env.csrf_trusted_origins)
    assert env.proxy_ssl_header is None
    assert _sign_in(HttpClient(enforce_csrf_checks=True)) == 403


def test_extra_origins_are_checked_and_a_bad_one_is_named():
    env = load(
        {
            "BODYGUARD_SITE_URL": SITE + "/",
            "BODYGUARD_CSRF_TRUSTED_ORIGINS": "https://admin.example.org, https://veille.example.org",
            "DJANGO_SECRET_KEY": "k" * 60,
        }
    )
    assert env.csrf_trusted_origins == (SITE, "https://admin.example.org")
    with pytest.raises(
        ConfigurationError, match=r"BODYGUARD_CSRF_TRUSTED_ORIGINS.*veille\.example\.org"
    ):
        load(
            {"BODYGUARD_CSRF_TRUSTED_ORIGINS": "veille.example.org", "DJANGO_SECRET_KEY": "k" * 60}
        )
