from django.db import migrations, models

from takedowns.auditlog import create_triggers, drop_triggers


class Migration(migrations.Migration):

    dependencies = [
        ('takedowns', '0007_recheck_outcomes'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='redacted',
            field=models.BooleanField(default=False),
        ),
        # One trigger per vendor (SQLite here, PostgreSQL in production): UPDATE and DELETE
        # are refused by the database, except an erased client's redaction.
        migrations.RunPython(create_triggers, drop_triggers),
    ]
