"""ELASTICSEARCH_* variables: several nodes, one way to authenticate, the cluster's CA; every
mistake named with what to fix, and no secret ever quoted back."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from config.environment import ConfigurationError, ElasticsearchAccess, load
from crawlers.runner import crawl_environment
from hits.errors import describe_es_error, redact
from hits.store import HitStore

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
API_KEY = base64.b64encode(b"VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw").decode()


def _access(tmp_path: Path, **variables: str) -> ElasticsearchAccess:
    return load({"BODYGUARD_VAR_DIR": str(tmp_path), **variables}).elasticsearch


def _refused(tmp_path: Path, **variables: str) -> str:
    with pytest.raises(ConfigurationError) as caught:
        _access(tmp_path, **variables)
    return str(caught.value)


def test_the_local_node_by_default(tmp_path: Path) -> None:
    assert _access(tmp_path) == ElasticsearchAccess(("http://127.0.0.1:9200",))
    assert _access(tmp_path, ES_PORT="9201").hosts == ("http://127.0.0.1:9201",)


def test_several_comma_separated_nodes(tmp_path: Path) -> None:
    access = _access(
        tmp_path, ELASTICSEARCH_URL=" https://es-1.example.org:9200/ ,https://es-2.example.org,"
    )
    assert access.hosts == ("https://es-1.example.org:9200", "https://es-2.example.org")
    assert access.url == "https://es-1.example.org:9200,https://es-2.example.org"
    assert (
        load(
            {"BODYGUARD_VAR_DIR": str(tmp_path), "ELASTICSEARCH_URL": access.url}
        ).elasticsearch_url
        == access.url
    )


@pytest.mark.parametrize(
    "bad",
    ["es-1.example.org:9200", "ftp://es-1", "https://", "https://es-1:99999", "https://es-1?x=1"],
)
def test_a_url_that_is_not_a_node_is_named(tmp_path: Path, bad: str) -> None:
    message = _refused(tmp_path, ELASTICSEARCH_URL=f"https://ok.example.org,{bad}")
    assert message.startswith("ELASTICSEARCH_URL:")
    assert repr(bad) in message
    assert "https://es-1.example.org:9200" in message


def test_a_list_of_commas_names_no_node(tmp_path: Path) -> None:
    assert "names no Elasticsearch node" in _refused(tmp_path, ELASTICSEARCH_URL=" , ,")


def test_user_and_password_go_together(tmp_path: Path) -> None:
    access = _access(
        tmp_path, ELASTICSEARCH_USERNAME="bodyguard", ELASTICSEARCH_PASSWORD="s3cret-pw"
    )
    assert (access.username, access.password) == ("bodyguard", "s3cret-pw")
    assert "s3cret-pw" not in repr(access)
    assert "ELASTICSEARCH_PASSWORD is not set" in _refused(
        tmp_path, ELASTICSEARCH_USERNAME="bodyguard"
    )
    message = _refused(tmp_path, ELASTICSEARCH_PASSWORD="s3cret-pw")
    assert "ELASTICSEARCH_USERNAME is not set" in message
    assert "s3cret-pw" not in message


def test_an_api_key_and_a_password_together_are_refused(tmp_path: Path) -> None:
    message = _refused(
        tmp_path,
        ELASTICSEARCH_API_KEY=API_KEY,
        ELASTICSEARCH_USERNAME="bodyguard",
        ELASTICSEARCH_PASSWORD="s3cret-pw",
    )
    assert "use one way to authenticate" in message
    assert API_KEY not in message and "s3cret-pw" not in message


def test_an_api_key_must_be_the_encoded_form(tmp_path: Path) -> None:
    assert _access(tmp_path, ELASTICSEARCH_API_KEY=API_KEY).api_key == API_KEY
    assert API_KEY not in repr(_access(tmp_path, ELASTICSEARCH_API_KEY=API_KEY))
    # The key's two halves given raw, or just its secret half: not what the client sends.
    for wrong in ("VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw", "ui2lp2axTNmsyakw9tvNnw"):
        message = _refused(tmp_path, ELASTICSEARCH_API_KEY=wrong)
        assert "`encoded` value" in message
        assert wrong not in message


def test_credentials_in_the_url_are_taken_out_of_it(tmp_path: Path) -> None:
    access = _access(
        tmp_path, ELASTICSEARCH_URL="https://elastic:p%40ss@es-1:9200,https://es-2:9200"
    )
    assert access.hosts == ("https://es-1:9200", "https://es-2:9200")
    assert (access.username, access.password) == ("elastic", "p@ss")
    message = _refused(
        tmp_path, ELASTICSEARCH_URL="https://es-0:9200,https://elastic:hunter22@es-1:99999"
    )
    assert "hunter22" not in message
    assert "both set" in _refused(
        tmp_path,
        ELASTICSEARCH_URL="https://elastic:hunter22@es-1:9200",
        ELASTICSEARCH_API_KEY=API_KEY,
    )


def test_the_ca_file_must_exist_and_hold_a_certificate(tmp_path: Path) -> None:
    ca = tmp_path / "http_ca.crt"
    ca.write_text(PEM, encoding="ascii")
    https = "https://es-1.example.org:9200"
    assert _access(tmp_path, ELASTICSEARCH_URL=https, ELASTICSEARCH_CA_CERTS=str(ca)).ca_certs == ca
    missing = _refused(
        tmp_path, ELASTICSEARCH_URL=https, ELASTICSEARCH_CA_CERTS=str(tmp_path / "nope.crt")
    )
    assert "ELASTICSEARCH_CA_CERTS" in missing and "cannot be read" in missing
    (tmp_path / "key.pem").write_text("not a certificate", encoding="ascii")
    assert "holds no PEM certificate" in _refused(
        tmp_path, ELASTICSEARCH_URL=https, ELASTICSEARCH_CA_CERTS=str(tmp_path / "key.pem")
    )
    assert "cannot be read" in _refused(
        tmp_path, ELASTICSEARCH_URL=https, ELASTICSEARCH_CA_CERTS=str(tmp_path)
    )


def test_a_ca_without_an_https_node_is_refused(tmp_path: Path) -> None:
    ca = tmp_path / "http_ca.crt"
    ca.write_text(PEM, encoding="ascii")
    message = _refused(
        tmp_path, ELASTICSEARCH_URL="http://es-1:9200", ELASTICSEARCH_CA_CERTS=str(ca)
    )
    assert "no URL in ELASTICSEARCH_URL uses https" in message


def test_secrets_are_masked_in_messages_and_store_urls() -> None:
    assert redact("at https://elastic:hunter22@es-1:9200/_bulk") == (
        "at https://elastic:***@es-1:9200/_bulk"
    )
    assert "hunter22" not in redact("Authorization: Basic ZWxhc3RpYzpodW50ZXIyMg==")
    assert API_KEY not in redact(f"Authorization: ApiKey {API_KEY}")
    _, reason = describe_es_error(
        {"type": "x", "reason": "cannot reach https://elastic:hunter22@es-1:9200"}
    )
    assert "hunter22" not in reason
    store = HitStore("https://elastic:hunter22@127.0.0.1:9", "bodyguard-test")
    assert "hunter22" not in store.url
    store.close()


def test_a_crawl_process_gets_the_same_access(tmp_path: Path, settings: Any) -> None:
    ca = tmp_path / "http_ca.crt"
    ca.write_text(PEM, encoding="ascii")
    for access in (
        ElasticsearchAccess(
            ("https://es-1:9200", "https://es-2:9200"), api_key=API_KEY, ca_certs=ca
        ),
        ElasticsearchAccess(("https://es-1:9200",), username="bodyguard", password="s3cret-pw"),
    ):
        settings.BODYGUARD_ELASTICSEARCH = access
        settings.BODYGUARD_ELASTICSEARCH_URL = access.url
        child = crawl_environment() | {"BODYGUARD_VAR_DIR": str(tmp_path)}
        assert load(child).elasticsearch == access
