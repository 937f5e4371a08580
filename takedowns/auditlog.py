"""The audit log is append-only in the database itself, not only on model instances.

Triggers (migrations 0008 and 0009) refuse every UPDATE and DELETE of ``takedowns_auditevent``,
so ``QuerySet.update()``, ``QuerySet.delete()`` and raw SQL are refused too. Two narrow
exceptions, both explicit (docs/adr/0015-web-access-and-leaks.md):

- redaction after a client's erasure, of rows about a client only (a ``client:<ref>`` actor or
  target, a ``case:<id>`` or hit id target): an UPDATE that keeps ``at``, ``action`` and a
  reviewer's name, sets ``redacted`` and only replaces ``detail`` with ``[erased]`` and a
  ``client:<ref>`` target or actor with ``client:[erased]`` (operations.privacy);
- ``manage.py flush``, which empties the whole database (tests between transactional cases):
  on PostgreSQL it TRUNCATEs, which row triggers do not see; on SQLite it DELETEs, and the
  trigger asks :func:`_flushing` (registered on each SQLite connection) whether a flush is on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.backends.signals import connection_created

ERASED = "[erased]"
ERASED_CLIENT = f"client:{ERASED}"
SQLITE_FLUSH_FUNCTION = "bodyguard_audit_flushing"

_state = threading.local()


def _flushing() -> int:
    return int(getattr(_state, "flushing", False))


@contextmanager
def flushing() -> Iterator[None]:
    """Lets this thread's ``flush`` empty the audit log (SQLite; PostgreSQL truncates)."""
    _state.flushing = True
    try:
        yield
    finally:
        _state.flushing = False


def register_sqlite_function(sender: Any, connection: Any, **_: Any) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_FLUSH_FUNCTION, 0, _flushing)


def connect() -> None:
    connection_created.connect(register_sqlite_function, dispatch_uid="bodyguard-audit-flush")


MESSAGE = "the audit log is append-only"


def _sqlite_create(redaction: str) -> list[str]:
    return [
        f"""CREATE TRIGGER takedowns_auditevent_no_update BEFORE UPDATE ON takedowns_auditevent
    WHEN NOT ({redaction})
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: only an erased client''s redaction may change it'); END""",
        f"""CREATE TRIGGER takedowns_auditevent_no_delete BEFORE DELETE ON takedowns_auditevent
    WHEN NOT {SQLITE_FLUSH_FUNCTION}()
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: entries cannot be deleted'); END""",
    ]


def _postgresql_create(redaction: str) -> list[str]:
    return [
        f"""CREATE OR REPLACE FUNCTION takedowns_auditevent_append_only() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND ({redaction}) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP;
    END; $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER takedowns_auditevent_append_only BEFORE UPDATE OR DELETE
    ON takedowns_auditevent FOR EACH ROW EXECUTE FUNCTION takedowns_auditevent_append_only()""",
    ]


SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS takedowns_auditevent_no_update",
    "DROP TRIGGER IF EXISTS takedowns_auditevent_no_delete",
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS takedowns_auditevent_append_only ON takedowns_auditevent",
    "DROP FUNCTION IF EXISTS takedowns_auditevent_append_only()",
]

# What a redaction may change (same on both databases): ``at``, ``action`` and a reviewer's
# name stay; ``detail`` may only become ERASED, a ``client:<ref>`` actor or target only
# ERASED_CLIENT, and the row must say it was redacted.
_REDACTION_CHANGE = (
    "NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action AND {redacted} "
    f"AND (NEW.who = OLD.who OR (OLD.who LIKE 'client:%' AND NEW.who = '{ERASED_CLIENT}')) "
    f"AND (NEW.target = OLD.target OR (OLD.target LIKE 'client:%' AND NEW.target = '{ERASED_CLIENT}')) "
    f"AND (NEW.detail = OLD.detail OR NEW.detail = '{ERASED}')"
)

# Migration 0008's rule, kept as it was: it let the detail of *any* row be blanked (a
# reviewer's own sign-ins, what she searched the queue for). Migrations replay it.
_RULE_0008 = {
    "sqlite": _REDACTION_CHANGE.format(redacted="NEW.redacted = 1"),
    "postgresql": _REDACTION_CHANGE.format(redacted="NEW.redacted"),
}

# Since migration 0009, only rows about a client may be redacted: what operations.privacy
# erases is identified by the row's actor or target, never by a search of details.
# - ``client:<ref>``: the client herself (her alert preferences) or what was done to her record;
# - ``case:<id>``: a case, which is always about one client;
# - a hit id (hits.documents.hit_id_for: 40 lowercase hex digits), which is about one client.
# Everything else (``login``, ``queue``, ``cases``...) records what a reviewer did, never about
# whom in its target, and stays as written. The rule reads this row only: a trigger on SQLite
# that read takedowns_case (for its legal hold) would break every later migration that
# rebuilds that table (SQLite checks triggers when the rebuilt table is renamed into place).
_ABOUT_A_CLIENT = {
    "sqlite": (
        "(substr(OLD.who, 1, 7) = 'client:' OR substr(OLD.target, 1, 7) = 'client:' "
        "OR (OLD.target GLOB 'case:[0-9]*' AND substr(OLD.target, 6) NOT GLOB '*[^0-9]*') "
        "OR (length(OLD.target) = 40 AND OLD.target NOT GLOB '*[^0-9a-f]*'))"
    ),
    "postgresql": (
        "(substr(OLD.who, 1, 7) = 'client:' OR substr(OLD.target, 1, 7) = 'client:' "
        "OR OLD.target ~ '^case:[0-9]+$' OR OLD.target ~ '^[0-9a-f]{40}$')"
    ),
}
_RULE = {vendor: f"{_ABOUT_A_CLIENT[vendor]} AND {rule}" for vendor, rule in _RULE_0008.items()}


def _run(schema_editor: Any, statements: dict[str, list[str]]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in statements:
        raise RuntimeError(f"no append-only trigger for the {vendor} database")
    for sql in statements[vendor]:
        schema_editor.execute(sql, None)  # no parameters: "%" is SQL here, not a placeholder


def _create(schema_editor: Any, rule: dict[str, str]) -> None:
    _run(
        schema_editor,
        {
            "sqlite": _sqlite_create(rule["sqlite"]),
            "postgresql": _postgresql_create(rule["postgresql"]),
        },
    )


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP})


def create_triggers(apps: Any, schema_editor: Any) -> None:
    """Migration 0008's triggers, as they were (0009 replaces them)."""
    _create(schema_editor, _RULE_0008)


def replace_triggers(apps: Any, schema_editor: Any) -> None:
    """Migration 0009: the same triggers, redacting only rows about a client."""
    drop_triggers(apps, schema_editor)
    _create(schema_editor, _RULE)


def restore_0008_triggers(apps: Any, schema_editor: Any) -> None:
    drop_triggers(apps, schema_editor)
    create_triggers(apps, schema_editor)
