"""The sign-in lock-out holds against parallel requests and never locks out a colleague
because someone else failed from the same address."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request
import uuid

import pytest
from django.db import connection
from django.test import RequestFactory

from takedowns.access import MAX_FAILURES_PER_ACCOUNT, client_address
from takedowns.models import AuditEvent
from tests.takedowns.workbench import PASSWORD, make_user

pytestmark = pytest.mark.django_db(transaction=True)

PARALLEL = 16


class Browser:
    """One browser: its own cookies (session, CSRF), speaking HTTP to the live server."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def open_login(self) -> str:
        with self.opener.open(f"{self.base}/login/", timeout=60) as page:
            form = page.read().decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert match
        return match.group(1)

    def sign_in(self, username: str, password: str, token: str) -> str:
        data = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token}
        ).encode()
        request = urllib.request.Request(
            f"{self.base}/login/", data=data, headers={"Referer": f"{self.base}/login/"}
        )
        with self.opener.open(request, timeout=120) as response:
            if response.url.rstrip("/").endswith("/review"):
                return "signed in"
            page = response.read().decode()
        if "Trop de tentatives" in page:
            return "locked"
        return "wrong password"


def test_parallel_wrong_passwords_never_get_more_than_the_limit(live_server):
    make_user("rev", "reviewer")
    browsers = [Browser(live_server.url) for _ in range(PARALLEL)]
    tokens = [b.open_login() for b in browsers]
    start = threading.Barrier(PARALLEL)
    outcomes: list[str] = []

    def attack(browser: Browser, token: str) -> None:
        try:
            start.wait()
            outcomes.append(browser.sign_in("rev", "wrong-guess", token))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=attack, args=pair) for pair in zip(browsers, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert len(outcomes) == PARALLEL
    assert outcomes.count("wrong password") <= MAX_FAILURES_PER_ACCOUNT, outcomes
    assert outcomes.count("locked") >= PARALLEL - MAX_FAILURES_PER_ACCOUNT
    assert (
        AuditEvent.objects.filter(action="login_failed", who="rev").count()
        <= MAX_FAILURES_PER_ACCOUNT
    )
    # Even the right password is refused while the account is locked.
    late = Browser(live_server.url)
    assert late.sign_in("rev", PASSWORD, late.open_login()) == "locked"


def test_random_usernames_failing_from_one_address_do_not_lock_a_colleague_out(live_server):
    make_user("rev", "reviewer")
    attacker = Browser(live_server.url)
    for _ in range(25):
        outcome = attacker.sign_in(f"user-{uuid.uuid4().hex[:8]}", "guess", attacker.open_login())
        assert outcome == "wrong password"
    colleague = Browser(live_server.url)  # same address: 127.0.0.1
    assert colleague.sign_in("rev", PASSWORD, colleague.open_login()) == "signed in"


def test_the_client_address_comes_from_a_trusted_proxy_only(settings):
    factory = RequestFactory()
    spoofed = factory.get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert client_address(spoofed) == "203.0.113.9"  # no proxy configured: the header is ignored
    settings.BODYGUARD_TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert client_address(spoofed) == "203.0.113.9"  # not from our proxy: ignored still
    proxied = factory.get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7, 10.0.0.3"
    )
    # The client wrote "1.2.3.4"; our proxies saw 198.51.100.7.
    assert client_address(proxied) == "198.51.100.7"
