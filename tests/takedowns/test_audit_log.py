"""The audit log cannot be rewritten or emptied, even by code that bypasses the model.

The refusals are the database's own (triggers on both engines): the tests marked
``both_engines`` run in `make test`'s SQLite pass too."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from takedowns.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def _entries() -> list[tuple[str, str, str, str]]:
    return list(AuditEvent.objects.order_by("pk").values_list("who", "action", "target", "detail"))


@pytest.fixture
def logged() -> list[tuple[str, str, str, str]]:
    AuditEvent.objects.create(
        who="rev", action="case_state", target="case:1", detail="new -> closed"
    )
    AuditEvent.objects.create(who="rev", action="export", target="case:1", detail="pack")
    return _entries()


def _refused(operation) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        operation()


@pytest.mark.both_engines
def test_the_database_refuses_to_rewrite_or_delete_audit_entries(logged):
    _refused(lambda: AuditEvent.objects.update(detail="nothing happened"))
    _refused(lambda: AuditEvent.objects.filter(action="export").update(who="someone-else"))
    _refused(lambda: AuditEvent.objects.all().delete())
    _refused(lambda: AuditEvent.objects.filter(action="export")._raw_delete(connection.alias))
    with connection.cursor() as cursor:
        _refused(lambda: cursor.execute("DELETE FROM takedowns_auditevent"))
        _refused(lambda: cursor.execute("UPDATE takedowns_auditevent SET action = 'login'"))
    assert _entries() == logged


@pytest.mark.both_engines
def test_a_redaction_cannot_hide_who_acted_or_what_they_did(logged):
    # Even flagged as a redaction, the actor, the action and a non-client target stay.
    _refused(lambda: AuditEvent.objects.update(who="client:[erased]", redacted=True))
    _refused(lambda: AuditEvent.objects.update(action="view_case", redacted=True))
    _refused(lambda: AuditEvent.objects.update(target="client:[erased]", redacted=True))
    # Blanking the detail without saying so is refused too.
    _refused(lambda: AuditEvent.objects.update(detail="[erased]"))
    assert _entries() == logged


@pytest.mark.both_engines
def test_an_erased_clients_redaction_goes_through_and_is_marked(logged):
    AuditEvent.objects.create(
        who="client:jeanne", action="alert_preferences", target="client:jeanne", detail="x -> y"
    )
    AuditEvent.objects.filter(target="client:jeanne").update(
        who="client:[erased]", target="client:[erased]", detail="[erased]", redacted=True
    )
    redacted = AuditEvent.objects.get(action="alert_preferences")
    assert (redacted.who, redacted.target, redacted.detail, redacted.redacted) == (
        "client:[erased]",
        "client:[erased]",
        "[erased]",
        True,
    )
    # Once redacted, it cannot be "un-redacted" into something else.
    _refused(
        lambda: AuditEvent.objects.filter(pk=redacted.pk).update(detail="forged", redacted=False)
    )


@pytest.mark.both_engines
def test_a_reviewers_own_records_cannot_be_blanked_as_a_redaction():
    # Only rows about a client (her record, a case, a hit) are ever redacted by an erasure.
    own = [
        AuditEvent.objects.create(
            who="rev", action="login_failed", target="login", detail="203.0.113.9"
        ),
        AuditEvent.objects.create(
            who="rev", action="view_queue", target="queue", detail="q=Jeanne+Dupont"
        ),
        AuditEvent.objects.create(who="rev", action="view_cases", target="cases", detail=""),
        # Look-alikes of a case or a hit are not one.
        AuditEvent.objects.create(who="rev", action="x", target="case:12a", detail="d"),
        AuditEvent.objects.create(who="rev", action="x", target="F" * 40, detail="d"),
        AuditEvent.objects.create(who="rev", action="x", target="f" * 41, detail="d"),
    ]
    before = _entries()
    for event in own:
        _refused(
            lambda pk=event.pk: AuditEvent.objects.filter(pk=pk).update(
                detail="[erased]", redacted=True
            )
        )
    with connection.cursor() as cursor:
        _refused(
            lambda: cursor.execute(
                "UPDATE takedowns_auditevent SET detail = '[erased]', redacted = %s WHERE who = 'rev'",
                [True],
            )
        )
    assert _entries() == before
    # What an erasure does blank: rows about a case and about a hit.
    about_case = AuditEvent.objects.create(who="rev", action="view_case", target="case:12")
    about_hit = AuditEvent.objects.create(who="rev", action="reveal_image", target="0a" * 20)
    AuditEvent.objects.filter(pk__in=[about_case.pk, about_hit.pk]).update(
        detail="[erased]", redacted=True
    )
    assert AuditEvent.objects.filter(redacted=True).count() == 2


@pytest.mark.postgresql
def test_postgresql_has_the_trigger():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'takedowns_auditevent'::regclass"
        )
        assert "takedowns_auditevent_append_only" in {row[0] for row in cursor.fetchall()}


@pytest.mark.sqlite
def test_sqlite_has_the_triggers():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'takedowns_auditevent'"
        )
        assert {row[0] for row in cursor.fetchall()} == {
            "takedowns_auditevent_no_update",
            "takedowns_auditevent_no_delete",
        }
