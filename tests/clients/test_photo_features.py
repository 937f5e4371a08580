"""What registration keeps of a photo's local features: sealed, openable only with the key."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from clients.keys import DEV_KEY_FILE, features_key
from clients.models import Client, ClientPhoto
from clients.photos import register_photo
from config.environment import ConfigurationError, load
from matching.features import FeatureKeyError, registration_features, unseal
from matching.images import decode
from tests.conftest import DATA

pytestmark = [pytest.mark.django_db, pytest.mark.privacy]
PHOTO = DATA / "photos" / "opencv_baboon.jpg"


def _client() -> Client:
    return Client.objects.create(reference="jeanne", display_name="J", email="j@example.org")


def test_registration_stores_sealed_features_and_a_dev_key_outside_the_repository(
    isolated: Path, settings
):
    settings.BODYGUARD_FEATURES_KEY = ""
    register_photo(_client(), "photo 1", PHOTO.read_bytes())

    key_file = Path(settings.BODYGUARD_VAR_DIR) / DEV_KEY_FILE
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    stored = bytes(ClientPhoto.objects.get().sealed_features or b"")
    clear = registration_features(decode(PHOTO.read_bytes()))
    for row in clear.descriptors[::5]:
        assert row[:16].tobytes() not in stored
    assert unseal(stored, features_key()) == clear


def test_features_sealed_with_another_key_do_not_open(isolated: Path, settings):
    settings.BODYGUARD_FEATURES_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
    register_photo(_client(), "photo 1", PHOTO.read_bytes())
    stored = bytes(ClientPhoto.objects.get().sealed_features or b"")
    settings.BODYGUARD_FEATURES_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
    with pytest.raises(FeatureKeyError, match="BODYGUARD_FEATURES_KEY"):
        unseal(stored, features_key())


@pytest.mark.parametrize("value", ["short", base64.urlsafe_b64encode(b"x" * 31).decode(), "%%%"])
def test_a_malformed_key_is_a_configuration_error_naming_the_variable(value):
    with pytest.raises(ConfigurationError, match="BODYGUARD_FEATURES_KEY"):
        load({"BODYGUARD_FEATURES_KEY": value})


def test_production_requires_a_key():
    with pytest.raises(ConfigurationError, match="BODYGUARD_FEATURES_KEY must be set"):
        load({"BODYGUARD_ENV": "production", "DJANGO_SECRET_KEY": "x" * 50})
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env = load(
        {
            "BODYGUARD_ENV": "production",
            "DJANGO_SECRET_KEY": "x" * 50,
            "BODYGUARD_FEATURES_KEY": key,
        }
    )
    assert env.features_key == key
