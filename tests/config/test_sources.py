from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from config.sources import SourceError, load_sources
from crawlers.registry import KNOWN_KINDS, SPIDERS

GOOD = """
id: forum-a
kind: discourse
base_url: https://forum.example.org/
crawl_interval: 30m
"""


def _write(tmp_path: Path, text: str, name: str = "a.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_valid_source_loads_with_defaults(tmp_path):
    _write(tmp_path, GOOD)
    source = load_sources(tmp_path, KNOWN_KINDS)["forum-a"]
    assert source.crawl_interval == timedelta(minutes=30)
    assert source.base_url == "https://forum.example.org"
    assert source.enabled is True
    assert source.allow_private_addresses is False


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (
            GOOD.replace("kind: discourse", "kind: myspace"),
            "kind",
            "known kinds: bing, bluesky, brave, discourse, fourchan, generic, google_cse, invision, lemmy, mastodon, misskey, phpbb, reddit, searxng, telegram, vbulletin, xenforo",
        ),
        (
            GOOD.replace("crawl_interval: 30m", "crawl_interval: often"),
            "crawl_interval",
            "duration",
        ),
        (GOOD.replace("crawl_interval: 30m", "crawl_interval: 10s"), "crawl_interval", "range"),
        (
            GOOD.replace("base_url: https://forum.example.org/", "base_url: ftp://x"),
            "base_url",
            "http",
        ),
        (GOOD.replace("id: forum-a", "id: Forum A"), "id", "lowercase"),
        (GOOD.replace("kind: discourse\n", ""), "kind", "missing"),
        (GOOD + "enabeld: true\n", "enabeld", "unknown key"),
        (GOOD + "enabled: maybe\n", "enabled", "true or false"),
    ],
)
def test_a_bad_source_names_the_file_the_key_and_the_problem(tmp_path, text, key, words):
    path = _write(tmp_path, text)
    with pytest.raises(SourceError) as error:
        load_sources(tmp_path, KNOWN_KINDS)
    assert error.value.file == path
    assert error.value.key == key
    assert str(path) in str(error.value)
    assert words in str(error.value)


def test_invalid_yaml_is_reported_with_the_file(tmp_path):
    path = _write(tmp_path, "id: [unclosed\n")
    with pytest.raises(SourceError, match="invalid YAML") as error:
        load_sources(tmp_path, KNOWN_KINDS)
    assert str(path) in str(error.value)


def test_two_files_with_one_id_are_refused(tmp_path):
    _write(tmp_path, GOOD, "a.yaml")
    _write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(SourceError, match="already used"):
        load_sources(tmp_path, KNOWN_KINDS)


@pytest.mark.django_db
def test_monitor_refuses_to_start_on_a_bad_source_file(settings, tmp_path):
    settings.BODYGUARD_SOURCES_DIR = tmp_path
    settings.BODYGUARD_VAR_DIR = tmp_path / "var"
    path = _write(tmp_path, GOOD.replace("kind: discourse", "kind: nope"))
    with pytest.raises(CommandError, match=str(path)):
        call_command("monitor", "--once")


def test_the_shipped_example_sources_are_valid():
    root = Path(__file__).resolve().parents[2]
    assert load_sources(root / "config" / "sources", KNOWN_KINDS)


def test_each_spider_name_is_its_file_stem():
    for name, spider in SPIDERS.items():
        assert Path(str(__import__(spider.__module__, fromlist=["x"]).__file__)).stem == name
