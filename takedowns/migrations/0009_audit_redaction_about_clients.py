from django.db import migrations

from takedowns.auditlog import replace_triggers, restore_0008_triggers


class Migration(migrations.Migration):
    dependencies = [
        ("takedowns", "0008_audit_append_only"),
    ]

    operations = [
        # The append-only triggers again (dropped and re-created on SQLite and PostgreSQL):
        # a redaction may now only blank rows about a client, never a reviewer's own records.
        migrations.RunPython(replace_triggers, restore_0008_triggers),
    ]
