from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from clients.models import Client, WatchTerm
from clients.services import ClientFileError, import_client_file, watchlist

pytestmark = pytest.mark.django_db

TWO = """
clients:
  - id: jeanne-dupont
    display_name: Jeanne Dupont
    names: ["Jeanne Dupont"]
    aliases: ["jdupont75"]
    email: jeanne@example.org
  - id: paul-martin
    display_name: Paul Martin
    names: ["Paul Martin"]
    email: paul@example.org
    language: en
    alert_preference: daily_digest
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clients.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_import_registers_clients_and_their_watch_terms(tmp_path):
    report = import_client_file(_file(tmp_path, TWO))
    assert report.created == ["jeanne-dupont", "paul-martin"]
    jeanne = Client.objects.get(reference="jeanne-dupont")
    assert jeanne.language == "fr"
    assert sorted(jeanne.terms.values_list("value", flat=True)) == ["Jeanne Dupont", "jdupont75"]
    targets = {t.client_ref: t for t in watchlist()}
    assert targets["jeanne-dupont"].aliases == ("jdupont75",)


def test_reimporting_updates_and_never_duplicates(tmp_path):
    import_client_file(_file(tmp_path, TWO))
    changed = TWO.replace('aliases: ["jdupont75"]', 'aliases: ["jd75"]')
    report = import_client_file(_file(tmp_path, changed))
    assert report.updated == ["jeanne-dupont"]
    assert report.unchanged == ["paul-martin"]
    assert Client.objects.count() == 2
    aliases = WatchTerm.objects.filter(kind="alias").values_list("value", flat=True)
    assert list(aliases) == ["jd75"]


@pytest.mark.parametrize(
    ("text", "client", "field"),
    [
        (TWO.replace("    email: paul@example.org\n", ""), "#2 (paul-martin)", "email"),
        (
            TWO.replace("email: paul@example.org", "email: not-an-email"),
            "#2 (paul-martin)",
            "email",
        ),
        (TWO.replace('names: ["Paul Martin"]', "names: []"), "#2 (paul-martin)", "names"),
        (TWO.replace("language: en", "language: de"), "#2 (paul-martin)", "language"),
        (
            TWO.replace("alert_preference: daily_digest", "alert_preference: hourly"),
            "#2 (paul-martin)",
            "alert_preference",
        ),
    ],
)
def test_a_bad_client_names_file_client_and_field_and_imports_nothing(
    tmp_path, text, client, field
):
    Client.objects.create(reference="jeanne-dupont", display_name="Avant", email="old@example.org")
    path = _file(tmp_path, text)
    with pytest.raises(ClientFileError) as error:
        import_client_file(path)
    assert (error.value.file, error.value.client, error.value.field) == (path, client, field)
    assert str(path) in str(error.value) and field in str(error.value)
    # Nothing imported and nothing already stored lost or changed.
    assert list(Client.objects.values_list("reference", "display_name")) == [
        ("jeanne-dupont", "Avant")
    ]


def test_invalid_yaml_is_reported_by_the_command(tmp_path):
    path = _file(tmp_path, "clients: [\n")
    with pytest.raises(CommandError, match="invalid YAML") as error:
        call_command("import_clients", str(path))
    assert str(path) in str(error.value)
    assert "Nothing was imported" in str(error.value)
