import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('alerts', '0002_deliveries'),
        ('clients', '0004_alert_detail'),
    ]

    operations = [
        migrations.CreateModel(
            name='PreferencesLink',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token_sha256', models.CharField(max_length=64, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('expires_at', models.DateTimeField(db_index=True)),
                ('client', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='preference_links', to='clients.client')),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
    ]
