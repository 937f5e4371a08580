"""The two databases Bodyguard runs on: what each keeps of deleted rows, and crawls reaching them."""

from __future__ import annotations

import dj_database_url
import pytest
from django.db import connection

from clients.models import Client
from crawlers.runner import database_url_of
from tests.conftest import database_contents

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_crawl_processes_reach_the_same_database_with_its_options():
    settings_dict = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test bodyguard",
        "USER": "bg@team",
        "PASSWORD": "p:w/d",
        "HOST": "db.internal",
        "PORT": 6432,
        "OPTIONS": {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/ca.pem"},
    }
    parsed = dj_database_url.parse(database_url_of(settings_dict))
    for key in ("NAME", "USER", "PASSWORD", "HOST", "PORT"):
        assert parsed[key] == settings_dict[key], key
    assert parsed["OPTIONS"] == settings_dict["OPTIONS"]


def test_the_crawl_process_url_names_the_database_in_use():
    parsed = dj_database_url.parse(database_url_of(connection.settings_dict))
    assert parsed["NAME"] == connection.settings_dict["NAME"]


@pytest.mark.sqlite
def test_sqlite_overwrites_what_is_deleted():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA secure_delete")
        assert cursor.fetchone()[0] == 1
    client = Client.objects.create(reference="trace-xq7", display_name="Zélie Tracefinder")
    assert b"Tracefinder" in database_contents()
    client.delete()
    assert b"Tracefinder" not in database_contents()


@pytest.mark.postgresql
def test_postgresql_keeps_nothing_readable_of_what_is_deleted():
    client = Client.objects.create(reference="trace-xq7", display_name="Zélie Tracefinder")
    assert b"Tracefinder" in database_contents()
    client.delete()
    assert b"Tracefinder" not in database_contents()
