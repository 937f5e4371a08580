import pytest
from django.contrib.auth.models import Permission, User

from clients.models import Client

pytestmark = pytest.mark.django_db(transaction=True)


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
            "alert_detail": "summary",
            "active": "on",
            "terms-TOTAL_FORMS": "2",
            "terms-INITIAL_FORMS": "0",
            "terms-MIN_NUM_FORMS": "0",
            "terms-MAX_NUM_FORMS": "1000",
            "terms-0-kind": "name",
            "terms-0-value": "Jeanne Dupont",
            "terms-1-kind": "alias",
            "terms-1-value": "jdupont75",
            "photos-TOTAL_FORMS": "0",
            "photos-INITIAL_FORMS": "0",
            "photos-MIN_NUM_FORMS": "0",
            "photos-MAX_NUM_FORMS": "1000",
            "videos-TOTAL_FORMS": "0",
            "videos-INITIAL_FORMS": "0",
            "videos-MIN_NUM_FORMS": "0",
            "videos-MAX_NUM_FORMS": "1000",
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


def test_staff_register_a_photo_in_the_admin_and_only_hashes_are_kept(
    staff_client, isolated, hit_store
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from clients.models import ClientPhoto
    from tests.conftest import DATA

    client = Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@example.org")
    data = (DATA / "photos" / "opencv_baboon.jpg").read_bytes()
    response = staff_client.post(
        f"/admin/clients/client/{client.pk}/change/",
        {
            "reference": "jeanne",
            "display_name": "Jeanne",
            "email": "j@example.org",
            "language": "fr",
            "alert_preference": "immediate",
            "alert_detail": "summary",
            "active": "on",
            "terms-TOTAL_FORMS": "0",
            "terms-INITIAL_FORMS": "0",
            "terms-MIN_NUM_FORMS": "0",
            "terms-MAX_NUM_FORMS": "1000",
            "photos-TOTAL_FORMS": "1",
            "photos-INITIAL_FORMS": "0",
            "photos-MIN_NUM_FORMS": "0",
            "photos-MAX_NUM_FORMS": "1000",
            "videos-TOTAL_FORMS": "0",
            "videos-INITIAL_FORMS": "0",
            "videos-MIN_NUM_FORMS": "0",
            "videos-MAX_NUM_FORMS": "1000",
            "photos-0-label": "photo 1",
            "photos-0-photo": SimpleUploadedFile("vacances.jpg", data, content_type="image/jpeg"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    photo = ClientPhoto.objects.get(client=client)
    assert photo.label == "photo 1"
    assert 8 <= len(photo.pdq_hashes) <= 28
    assert all(len(h) == 64 for h in photo.pdq_hashes)


def test_even_a_superuser_cannot_delete_a_client_except_by_erasure(client):
    admin_user = User.objects.create_superuser("boss", password="a-long-test-password")
    client.force_login(admin_user)
    jeanne = Client.objects.create(
        reference="jeanne", display_name="Jeanne Dupont", email="jeanne@example.org"
    )
    assert client.get(f"/admin/clients/client/{jeanne.pk}/delete/").status_code == 403
    assert (
        client.post(f"/admin/clients/client/{jeanne.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    changelist = client.get("/admin/clients/client/").content.decode()
    assert 'value="delete_selected"' not in changelist and 'value="erase_selected"' in changelist
    client.post(
        "/admin/clients/client/",
        {"action": "delete_selected", "_selected_action": [jeanne.pk], "post": "yes"},
    )
    assert Client.objects.filter(pk=jeanne.pk).exists()


def test_a_clients_reference_cannot_be_changed_after_registration(staff_client):
    # Hits, alerts, cases and evidence are stored under the reference.
    jeanne = Client.objects.create(
        reference="jeanne", display_name="Jeanne Dupont", email="jeanne@example.org"
    )
    url = f"/admin/clients/client/{jeanne.pk}/change/"
    page = staff_client.get(url).content.decode()
    assert 'name="reference"' not in page and '<div class="readonly">jeanne</div>' in page
    response = staff_client.post(
        url,
        {
            "reference": "someone-else",
            "display_name": "Jeanne Martin",
            "email": "jeanne@example.org",
            "language": "fr",
            "alert_preference": "immediate",
            "alert_detail": "summary",
            "active": "on",
            "terms-TOTAL_FORMS": "0",
            "terms-INITIAL_FORMS": "0",
            "terms-MIN_NUM_FORMS": "0",
            "terms-MAX_NUM_FORMS": "1000",
            "photos-TOTAL_FORMS": "0",
            "photos-INITIAL_FORMS": "0",
            "photos-MIN_NUM_FORMS": "0",
            "photos-MAX_NUM_FORMS": "1000",
            "videos-TOTAL_FORMS": "0",
            "videos-INITIAL_FORMS": "0",
            "videos-MIN_NUM_FORMS": "0",
            "videos-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    jeanne.refresh_from_db()
    # The rest of the record stays editable; the reference does not move.
    assert (jeanne.reference, jeanne.display_name) == ("jeanne", "Jeanne Martin")
    assert not Client.objects.filter(reference="someone-else").exists()
