import pytest
from django.contrib.auth.models import Permission, User

from clients.models import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = User.objects.create_user("staff", password="a-long-test-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="clients"))
    client.force_login(user)
    return client


def test_staff_register_a_client_with_names_and_aliases_in_the_admin(staff_client):
    response = staff_client.post(
        "/admin/clients/client/add/",
        {
            "reference": "jeanne-dupont",
            "display_name": "Jeanne Dupont",
            "email": "jeanne@example.org",
            "language": "fr",
            "alert_preference": "immediate",
            "active": "on",
            "terms-TOTAL_FORMS": "2",
            "terms-INITIAL_FORMS": "0",
            "terms-MIN_NUM_FORMS": "0",
            "terms-MAX_NUM_FORMS": "1000",
            "terms-0-kind": "name",
            "terms-0-value": "Jeanne Dupont",
            "terms-1-kind": "alias",
            "terms-1-value": "jdupont75",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    client = Client.objects.get(reference="jeanne-dupont")
    assert sorted(client.terms.values_list("kind", "value")) == [
        ("alias", "jdupont75"),
        ("name", "Jeanne Dupont"),
    ]


def test_the_admin_requires_login(client):
    response = client.get("/admin/clients/client/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
