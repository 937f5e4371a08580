"""Alerts and deliveries are records of what a client was told: nobody deletes them in the admin
(a deleted alert would make its hit look new, and the client would be told twice)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import User

from alerts.models import Alert, Delivery
from clients.models import Client
from tests.takedowns.workbench import PASSWORD

pytestmark = pytest.mark.django_db


def test_even_a_superuser_cannot_delete_or_edit_an_alert_or_a_delivery(client):
    jeanne = Client.objects.create(reference="jeanne", display_name="J", email="j@example.org")
    delivery = Delivery.objects.create(
        client=jeanne, kind="immediate", idempotency_key="k1", next_attempt_at=datetime.now(UTC)
    )
    alert = Alert.objects.create(
        client=jeanne,
        hit_id="h" * 40,
        source_id="forum",
        host="forum.example",
        match_kind="name",
        hit_first_seen=datetime.now(UTC),
        delivery=delivery,
    )
    client.force_login(User.objects.create_superuser("boss", password=PASSWORD))
    for model, obj in (("alert", alert), ("delivery", delivery)):
        delete = f"/admin/alerts/{model}/{obj.pk}/delete/"
        assert client.get(delete).status_code == 403
        assert client.post(delete, {"post": "yes"}).status_code == 403
        page = client.get(f"/admin/alerts/{model}/").content.decode()
        assert 'value="delete_selected"' not in page
        client.post(
            f"/admin/alerts/{model}/",
            {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
        )
    assert Alert.objects.filter(pk=alert.pk).exists()
    assert Delivery.objects.filter(pk=delivery.pk).exists()
