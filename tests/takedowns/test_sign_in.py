"""The sign-in lock-out holds against parallel requests, never locks out a colleague because
someone else failed from the same address, and never locks a reviewer out from her own address
because someone elsewhere guesses her password, until a distributed attack reaches a ceiling."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.parse
import urllib.request
import uuid

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.test import RequestFactory

from takedowns.access import (
    MAX_FAILURES_FROM_ALL_ADDRESSES,
    MAX_FAILURES_FROM_ONE_ADDRESS,
    client_address,
)
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


@pytest.mark.both_engines  # SQLite's IMMEDIATE transactions, PostgreSQL's advisory lock
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
    assert outcomes.count("wrong password") <= MAX_FAILURES_FROM_ONE_ADDRESS, outcomes
    assert outcomes.count("locked") >= PARALLEL - MAX_FAILURES_FROM_ONE_ADDRESS
    assert (
        AuditEvent.objects.filter(action="login_failed", who="rev").count()
        <= MAX_FAILURES_FROM_ONE_ADDRESS
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


PROXY = "10.0.0.5"  # our reverse proxy: it appends the client's address to X-Forwarded-For


def _sign_in_through_proxy(username: str, password: str, address: str) -> str:
    browser = HttpClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=address)
    response = browser.post("/login/", {"username": username, "password": password})
    if response.status_code == 302 and "_auth_user_id" in browser.session:
        return "signed in"
    page = response.content.decode()
    return "locked" if "Trop de tentatives" in page else "wrong password"


@pytest.fixture
def behind_proxy(settings):
    settings.BODYGUARD_TRUSTED_PROXIES = [PROXY]
    # Sign-ins by the hundred: the lock-out is under test here, not the password hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    make_user("rev", "reviewer")


def test_a_guesser_elsewhere_does_not_lock_the_reviewer_out_from_her_own_address(behind_proxy):
    guesser, reviewer = "198.51.100.7", "203.0.113.10"
    outcomes = [_sign_in_through_proxy("rev", f"guess-{i}", guesser) for i in range(8)]
    assert outcomes == ["wrong password"] * MAX_FAILURES_FROM_ONE_ADDRESS + ["locked"] * 3
    assert _sign_in_through_proxy("rev", PASSWORD, guesser) == "locked"  # even the right one
    assert _sign_in_through_proxy("Rev ", PASSWORD, guesser) == "locked"  # same account
    assert _sign_in_through_proxy("rev", PASSWORD, reviewer) == "signed in"
    locked = AuditEvent.objects.filter(action="login_locked", who="rev")
    assert set(locked.values_list("detail", flat=True)) == {guesser}


def test_the_reviewers_own_address_is_locked_after_five_failures(behind_proxy):
    reviewer = "203.0.113.10"
    for _ in range(MAX_FAILURES_FROM_ONE_ADDRESS):
        assert _sign_in_through_proxy("rev", "typo", reviewer) == "wrong password"
    assert _sign_in_through_proxy("rev", PASSWORD, reviewer) == "locked"
    # A success from an address starts its count again; it does not unlock another one.
    assert _sign_in_through_proxy("rev", PASSWORD, "203.0.113.11") == "signed in"
    assert _sign_in_through_proxy("rev", PASSWORD, reviewer) == "locked"


def test_a_distributed_guesser_reaches_the_ceiling_and_locks_the_account_everywhere(
    behind_proxy,
):
    # A few guesses from each of many addresses, never enough to lock any one of them.
    per_address = MAX_FAILURES_FROM_ONE_ADDRESS - 1
    addresses = [f"198.51.100.{n}" for n in range(1, 100)]
    guesses = [addresses[i // per_address] for i in range(MAX_FAILURES_FROM_ALL_ADDRESSES)]
    outcomes = [_sign_in_through_proxy("rev", "guess", address) for address in guesses]
    assert outcomes == ["wrong password"] * MAX_FAILURES_FROM_ALL_ADDRESSES
    fresh = addresses[-1]  # never used by the guesser
    assert _sign_in_through_proxy("rev", "guess", fresh) == "locked"
    assert _sign_in_through_proxy("rev", PASSWORD, "203.0.113.10") == "locked"
    # Other accounts are not touched.
    make_user("colleague", "reviewer")
    assert _sign_in_through_proxy("colleague", PASSWORD, fresh) == "signed in"
