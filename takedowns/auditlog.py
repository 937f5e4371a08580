"""The audit log is append-only in the database itself, not only on model instances.

Triggers (migration 0007) refuse every UPDATE and DELETE of ``takedowns_auditevent``, so
``QuerySet.update()``, ``QuerySet.delete()`` and raw SQL are refused too. Two narrow exceptions,
both explicit (docs/adr/0015-web-access-and-leaks.md):

- redaction after a client's erasure: an UPDATE that keeps ``at``, ``action`` and the actor,
  sets ``redacted`` and only replaces ``detail`` with ``[erased]`` and a ``client:<ref>``
  target or actor with ``client:[erased]`` (operations.privacy);
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


# What the triggers accept as a redaction (same rule on both databases).
_REDACTION_RULE = (
    "NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.action = OLD.action AND {redacted} "
    f"AND (NEW.who = OLD.who OR (OLD.who LIKE 'client:%' AND NEW.who = '{ERASED_CLIENT}')) "
    f"AND (NEW.target = OLD.target OR (OLD.target LIKE 'client:%' AND NEW.target = '{ERASED_CLIENT}')) "
    f"AND (NEW.detail = OLD.detail OR NEW.detail = '{ERASED}')"
)
MESSAGE = "the audit log is append-only"

SQLITE_CREATE = [
    f"""CREATE TRIGGER takedowns_auditevent_no_update BEFORE UPDATE ON takedowns_auditevent
    WHEN NOT ({_REDACTION_RULE.format(redacted="NEW.redacted = 1")})
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: only an erased client''s redaction may change it'); END""",
    f"""CREATE TRIGGER takedowns_auditevent_no_delete BEFORE DELETE ON takedowns_auditevent
    WHEN NOT {SQLITE_FLUSH_FUNCTION}()
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: entries cannot be deleted'); END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS takedowns_auditevent_no_update",
    "DROP TRIGGER IF EXISTS takedowns_auditevent_no_delete",
]
POSTGRESQL_CREATE = [
    f"""CREATE OR REPLACE FUNCTION takedowns_auditevent_append_only() RETURNS trigger AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND ({_REDACTION_RULE.format(redacted="NEW.redacted")}) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP;
    END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER takedowns_auditevent_append_only BEFORE UPDATE OR DELETE
    ON takedowns_auditevent FOR EACH ROW EXECUTE FUNCTION takedowns_auditevent_append_only()""",
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS takedowns_auditevent_append_only ON takedowns_auditevent",
    "DROP FUNCTION IF EXISTS takedowns_auditevent_append_only()",
]


def _run(schema_editor: Any, statements: dict[str, list[str]]) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in statements:
        raise RuntimeError(f"no append-only trigger for the {vendor} database")
    for sql in statements[vendor]:
        schema_editor.execute(sql, None)  # no parameters: "%" is SQL here, not a placeholder


def create_triggers(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"sqlite": SQLITE_CREATE, "postgresql": POSTGRESQL_CREATE})


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    _run(schema_editor, {"sqlite": SQLITE_DROP, "postgresql": POSTGRESQL_DROP})
