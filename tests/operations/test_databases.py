"""The two databases Bodyguard runs on: what each keeps of deleted rows, and crawls reaching them."""

from __future__ import annotations

from datetime import UTC, datetime

import dj_database_url
import pytest
from django.db import connection

from clients.models import Client
from crawlers.runner import database_url_of
from hits.documents import Hit, MatchedTerm, MatchKind
from operations.privacy import erase_client
from takedowns.models import AuditEvent, Case, Notice
from takedowns.services import add_hit_to_case, audit
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


# What names the client in the PostgreSQL test below: her name, email and reference.
TRACES = (b"Tracefinder", b"zelie@trace.example", b"trace-xq7")


def _postgresql_relations_holding(needles: tuple[bytes, ...]) -> dict[bytes, set[str]]:
    """The relations (tables, indexes, TOAST, catalogs) of this database whose files on the
    server hold each needle, read raw by the server itself (pg_read_binary_file, a superuser's
    right: the cluster `make test` provisions) after a CHECKPOINT wrote its buffers out.

    Test relations are far below 1 GB, so each is one file (no ``.1`` segment to read), whose
    size is the relation's."""
    found: dict[bytes, set[str]] = {}
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
        for needle in needles:
            cursor.execute(
                "SELECT c.oid::regclass::text FROM pg_class c "
                "WHERE pg_relation_filepath(c.oid) IS NOT NULL AND position(%s::bytea IN "
                "pg_read_binary_file(pg_relation_filepath(c.oid), 0, pg_relation_size(c.oid), true)) > 0",
                [needle],
            )
            found[needle] = {row[0] for row in cursor.fetchall()}
    return found


@pytest.mark.postgresql
def test_postgresql_keeps_nothing_of_an_erased_client_once_its_tables_are_rewritten(hit_store):
    """What PostgreSQL guarantees, and what this proves an erasure gets from it.

    A deleted row is invisible to every query once its transaction commits, but its bytes stay
    in the table's (and its indexes' and TOAST's) files: plain VACUUM marks the space free
    without clearing it, so they stay until the space is reused. Only a rewrite (VACUUM FULL,
    CLUSTER) writes files without them; planner statistics may quote column values until the
    next ANALYZE, and WAL segments and backups keep them until recycled (hence an encrypted
    volume, docs/adr/0017). So: after an erasure, ANALYZE and VACUUM FULL, no file of any
    relation of the database may still hold her name, email or reference. A row the erasure
    left (in any table, live or in a catalog) would survive the rewrite and be found.
    """
    person = Client.objects.create(
        reference="trace-xq7", display_name="Zélie Tracefinder", email="zelie@trace.example"
    )
    person.terms.create(kind="name", value="Zélie Tracefinder")
    moment = datetime.now(UTC)
    hit = Hit(
        client_id="trace-xq7", source_id="forum", url="https://forum.example/t/7",
        match_kind=MatchKind.NAME, first_seen=moment, last_seen=moment,
        matched_terms=(MatchedTerm("Zélie Tracefinder", "Zélie Tracefinder", "exact", 0, 17),),
        excerpt="on parle de Zélie Tracefinder ici",
    )  # fmt: skip
    hit_store.upsert([hit])
    case = Case.objects.get(pk=add_hit_to_case(person, hit).case_id)
    Notice.objects.create(
        case=case, route="dsa16", recipient="Host", subject="s", created_by="rev",
        body="agissant pour le compte de Zélie Tracefinder (zelie@trace.example)",
    )  # fmt: skip
    audit("rev", "view_client", "client:trace-xq7", "Zélie Tracefinder")
    audit("rev", "allowlist", hit.hit_id, "account forum.example Tracefinder")
    # The scan reads what is on disk: before the erasure it finds her where she is stored.
    before = _postgresql_relations_holding(TRACES)
    assert {"clients_client", "clients_watchterm", "takedowns_notice"} <= before[TRACES[0]]
    assert "takedowns_auditevent" in before[TRACES[0]]

    erase_client("trace-xq7")
    assert AuditEvent.objects.filter(redacted=True).count() == 2  # the log keeps its entries
    assert not any(trace in database_contents() for trace in TRACES)  # no query reads her
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # statistics no longer sample her rows
        cursor.execute("VACUUM FULL")  # every table of the database, catalogs included
    assert _postgresql_relations_holding(TRACES) == {trace: set() for trace in TRACES}
