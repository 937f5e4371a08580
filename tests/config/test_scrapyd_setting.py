"""BODYGUARD_SCRAPYD_URLS: crawl workers need a database every machine shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.environment import ConfigurationError, load

PG = "postgres://bodyguard:secret@db.internal:5432/bodyguard"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"BODYGUARD_VAR_DIR": str(tmp_path), **extra}


def test_nodes_are_read_in_order_without_repeats(tmp_path):
    env = load(
        _env(
            tmp_path,
            BODYGUARD_SCRAPYD_URLS=" http://crawler-1:6800/, http://crawler-2:6800,http://crawler-1:6800",
            DATABASE_URL=PG,
        )
    )
    assert env.scrapyd_urls == ("http://crawler-1:6800", "http://crawler-2:6800")


def test_without_nodes_crawls_stay_local_on_sqlite(tmp_path):
    assert load(_env(tmp_path)).scrapyd_urls == ()


def test_nodes_with_sqlite_are_refused_with_what_to_set(tmp_path):
    with pytest.raises(ConfigurationError) as refused:
        load(_env(tmp_path, BODYGUARD_SCRAPYD_URLS="http://crawler-1:6800"))
    assert "PostgreSQL" in str(refused.value) and "DATABASE_URL" in str(refused.value)


def test_a_node_address_that_is_not_a_url_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="crawler-1:6800"):
        load(_env(tmp_path, BODYGUARD_SCRAPYD_URLS="crawler-1:6800", DATABASE_URL=PG))


def test_a_bad_node_address_is_named_without_its_password(tmp_path):
    with pytest.raises(ConfigurationError) as refused:
        load(
            _env(
                tmp_path, BODYGUARD_SCRAPYD_URLS="ftp://bodyguard:s3cret@crawler-1", DATABASE_URL=PG
            )
        )
    assert "crawler-1" in str(refused.value) and "s3cret" not in str(refused.value)
