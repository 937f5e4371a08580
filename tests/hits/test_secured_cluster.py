"""Bodyguard against a secured Elasticsearch: HTTPS with the cluster's own CA, a user and
password or an API key, several node URLs. A real 8.12.2 node (tests/hits/secured_node.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from config.environment import ElasticsearchAccess, load
from demo.smtp_sink import free_port
from hits.connection import connect
from hits.corpus import CorpusStore
from hits.documents import Hit, MatchedTerm, MatchKind
from hits.errors import HitStoreUnauthorized, HitStoreUnavailable
from hits.images import ImageStore
from hits.store import HitStore
from tests.hits.secured_node import SecuredNode, SecuredNodeProcess

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def secured_node() -> Iterator[SecuredNode]:
    process = SecuredNodeProcess()
    node = process.start()
    yield node
    process.stop()


@pytest.fixture
def access(secured_node: SecuredNode) -> ElasticsearchAccess:
    return ElasticsearchAccess(
        hosts=(secured_node.url,),
        username=secured_node.username,
        password=secured_node.password,
        ca_certs=secured_node.ca_file,
    )


@pytest.fixture
def prefix(access: ElasticsearchAccess) -> Iterator[str]:
    prefix = f"bodyguard-secured-{uuid.uuid4().hex[:8]}"
    yield prefix
    es = connect(access, 30)
    try:
        names = list(es.indices.get(index=f"{prefix}*", ignore_unavailable=True))
        if names:
            es.indices.delete(index=",".join(names))
        for template in es.indices.get_index_template(name=f"{prefix}*")["index_templates"]:
            es.indices.delete_index_template(name=template["name"])
    except Exception:
        pass
    finally:
        es.close()


def _hit(url: str = "https://forum.example.org/t/1") -> Hit:
    text = "Jeanne Dupont"
    return Hit(
        client_id="jeanne",
        source_id="forum",
        url=url,
        match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm(text, text, "exact_normalized", 0, len(text)),),
        first_seen=T0,
        last_seen=T0,
        excerpt=text,
        content_sha256="a" * 64,
    )


def _stores_a_hit(access: ElasticsearchAccess | str, prefix: str) -> list[Hit]:
    store = HitStore(access, prefix, timeout_s=30)
    try:
        store.ensure_index()
        store.upsert([_hit()])
        return store.of_client("jeanne")
    finally:
        store.close()


def test_a_user_and_password_with_the_clusters_ca_store_and_find_hits(
    access: ElasticsearchAccess, prefix: str
) -> None:
    [found] = _stores_a_hit(access, prefix)
    assert found.url == "https://forum.example.org/t/1"


def test_every_store_reaches_the_secured_cluster(access: ElasticsearchAccess, prefix: str) -> None:
    corpus = CorpusStore(access, prefix)
    images = ImageStore.connect(access, prefix, timeout_s=30)
    try:
        corpus.ensure_index()
        images.ensure_index()
        assert corpus.count() == 0
    finally:
        corpus.close()
        images.close()
    admin = connect(access, 30)
    try:
        assert admin.indices.exists(index=images.index)
    finally:
        admin.close()


def test_node_urls_alone_get_the_configured_credentials(
    access: ElasticsearchAccess, prefix: str, settings: Any
) -> None:
    # What crawl pipelines and services do: they pass settings.BODYGUARD_ELASTICSEARCH_URL.
    settings.BODYGUARD_ELASTICSEARCH = access
    [found] = _stores_a_hit(access.url, prefix)
    assert found.client_id == "jeanne"


def test_a_wrong_password_is_reported_without_the_password(
    access: ElasticsearchAccess, prefix: str
) -> None:
    wrong = replace(access, password="not-the-password-" + uuid.uuid4().hex)
    store = HitStore(wrong, prefix, timeout_s=30)
    with pytest.raises(HitStoreUnauthorized) as caught:
        store.ensure_index()
    store.close()
    message = str(caught.value)
    assert "refused our credentials" in message
    assert "ELASTICSEARCH_PASSWORD" in message
    assert wrong.password not in message
    assert wrong.password not in repr(wrong)
    # The journal keeps what could not be written: an outage, not a refusal of the hits.
    assert isinstance(caught.value, HitStoreUnavailable)


def test_without_the_clusters_ca_the_tls_failure_says_what_to_set(
    access: ElasticsearchAccess, prefix: str
) -> None:
    store = HitStore(replace(access, ca_certs=None), prefix, timeout_s=30)
    with pytest.raises(HitStoreUnavailable) as caught:
        store.ensure_index()
    store.close()
    message = str(caught.value)
    assert "TLS" in message
    assert "certificate verify failed" in message
    assert "ELASTICSEARCH_CA_CERTS" in message
    assert access.password not in message


def test_an_api_key_made_by_the_security_api_works(
    access: ElasticsearchAccess, prefix: str
) -> None:
    admin = connect(access, 30)
    try:
        created = admin.security.create_api_key(name=f"bodyguard-{prefix}", expiration="1h")
    finally:
        admin.close()
    with_key = ElasticsearchAccess(
        hosts=access.hosts, api_key=created["encoded"], ca_certs=access.ca_certs
    )
    # As an operator configures it: through the environment, checked there.
    loaded = load(
        {
            "ELASTICSEARCH_URL": with_key.url,
            "ELASTICSEARCH_API_KEY": created["encoded"],
            "ELASTICSEARCH_CA_CERTS": str(access.ca_certs),
            "DJANGO_SECRET_KEY": "x" * 64,
        }
    )
    assert loaded.elasticsearch == with_key
    [found] = _stores_a_hit(loaded.elasticsearch, prefix)
    assert found.client_id == "jeanne"


def test_a_dead_node_first_in_the_list_does_not_stop_the_work(
    access: ElasticsearchAccess, prefix: str
) -> None:
    dead = f"https://127.0.0.1:{free_port()}"
    several = replace(access, hosts=(dead, *access.hosts))
    store = HitStore(several, prefix, timeout_s=30)
    try:
        store.ensure_index()
        # Enough requests that the dead node's turn comes, whatever order the client picks.
        for n in range(6):
            store.upsert([_hit(f"https://forum.example.org/t/{n}")])
        assert store.count("jeanne") == 6
    finally:
        store.close()


def test_a_key_without_the_privileges_is_reported_as_such(
    access: ElasticsearchAccess, prefix: str
) -> None:
    admin = connect(access, 30)
    try:
        created = admin.security.create_api_key(
            name=f"bodyguard-{prefix}-none",
            expiration="1h",
            role_descriptors={"nothing": {"cluster": [], "indices": []}},
        )
    finally:
        admin.close()
    store = HitStore(replace(access, username="", password="", api_key=created["encoded"]), prefix)
    with pytest.raises(HitStoreUnauthorized) as caught:
        store.ensure_index()
    store.close()
    assert "403" in str(caught.value)
    assert created["encoded"] not in str(caught.value)
    assert created["api_key"] not in str(caught.value)


def _script(env: dict[str, str]) -> Any:
    import os
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "elasticsearch.sh"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ELASTICSEARCH_")}
    return subprocess.run(
        [str(script), "start"], env={**clean, **env, "ES_START_TIMEOUT": "10"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_make_test_reaches_a_secured_cluster_of_several_nodes(secured_node: SecuredNode) -> None:
    # What `make test` runs first (scripts/elasticsearch.sh start) with a configured cluster:
    # a dead node listed first, then the secured one, its user and its CA.
    env = {
        "ELASTICSEARCH_URL": f"https://127.0.0.1:{free_port()},{secured_node.url}",
        "ELASTICSEARCH_USERNAME": secured_node.username,
        "ELASTICSEARCH_PASSWORD": secured_node.password,
        "ELASTICSEARCH_CA_CERTS": str(secured_node.ca_file),
    }
    used = _script(env)
    assert used.returncode == 0, used.stderr
    assert "using the cluster" in used.stderr

    refused = _script({**env, "ELASTICSEARCH_PASSWORD": "not-the-password"})
    assert refused.returncode == 1
    assert "ELASTICSEARCH_USERNAME/PASSWORD" in refused.stderr
    assert "not-the-password" not in refused.stderr + refused.stdout
