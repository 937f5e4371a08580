"""Shared fixtures: real Elasticsearch, a real SMTP server, real Discourse responses over HTTP."""

from __future__ import annotations

import json
import subprocess
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from demo.discourse_server import DiscourseSite, serve
from demo.smtp_sink import MailSink, start_sink
from hits.images import ImageStore
from hits.store import HitStore

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


def database_vendor() -> str:
    engine = django_settings.DATABASES["default"]["ENGINE"]
    return "postgresql" if "postgresql" in engine else "sqlite" if "sqlite" in engine else engine


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests about one database engine run when the suite runs on it; `make test` runs both.

    They are deselected (and counted in the summary), never skipped: on the other engine they
    have nothing to check.
    """
    vendor = database_vendor()
    other = {"sqlite": "postgresql", "postgresql": "sqlite"}.get(vendor)
    if other is None:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        (dropped if item.get_closest_marker(other) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header(config: pytest.Config) -> str:
    db = django_settings.DATABASES["default"]
    return f"database: {database_vendor()} ({db.get('HOST') or db.get('NAME')})"


# Every index prefix this session handed out: swept again once the session ends.
_PREFIXES: set[str] = set()


def new_index_prefix() -> str:
    """A prefix of Elasticsearch indexes of the test's own, deleted at the latest with the session."""
    prefix = f"bodyguard-test-{uuid.uuid4().hex[:10]}"
    _PREFIXES.add(prefix)
    return prefix


@pytest.fixture(scope="session")
def elasticsearch_url() -> Iterator[str]:
    """The local node, started (or reused) by the project's script; never skipped."""
    subprocess.run([str(ROOT / "scripts" / "elasticsearch.sh"), "start"], check=True, cwd=ROOT)
    url = str(django_settings.BODYGUARD_ELASTICSEARCH_URL)
    yield url
    # A crawl a test started can still create its indexes after the test's own clean-up ran.
    delete_test_indexes(url, *sorted(_PREFIXES))


@pytest.fixture
def isolated(settings: Any, tmp_path: Path, elasticsearch_url: str) -> Iterator[Path]:
    """Own index prefix, journal, sources and var folders for one test; the test's indexes
    and templates are deleted after it (a node holds 1,000 shards: the suite would fill it)."""
    prefix = new_index_prefix()
    settings.BODYGUARD_INDEX_PREFIX = prefix
    settings.BODYGUARD_ELASTICSEARCH_URL = elasticsearch_url
    settings.BODYGUARD_JOURNAL_DIR = tmp_path / "journal"
    settings.BODYGUARD_VAR_DIR = tmp_path / "var"
    settings.BODYGUARD_EVIDENCE_DIR = tmp_path / "evidence"
    settings.BODYGUARD_SOURCES_DIR = tmp_path / "sources"
    settings.BODYGUARD_SOURCES_DIR.mkdir()
    settings.BODYGUARD_CRAWL_TIME_LIMIT_S = 120
    # Politeness delays are for other people's servers, not for our local test server.
    settings.BODYGUARD_CRAWL_SETTINGS = {
        "DOWNLOAD_DELAY": "0",
        "AUTOTHROTTLE_ENABLED": "0",
        # Tests reach this machine only: a link to the real web in a saved page is not followed.
        "BODYGUARD_ONLY_HOSTS": "127.0.0.1,localhost",
    }
    yield tmp_path
    delete_test_indexes(elasticsearch_url, prefix)


def delete_test_indexes(url: str, *prefixes: str) -> None:
    from elasticsearch import NotFoundError

    from hits.connection import connect

    if not prefixes:
        return
    pattern = f"{prefixes[0]}*" if len(prefixes) == 1 else "bodyguard-test-*"
    ours = tuple(prefixes)
    es = connect(url, 30)
    try:
        # Names, not a wildcard: Elasticsearch 8 refuses wildcard deletes by default.
        names = [
            n for n in es.indices.get(index=pattern, ignore_unavailable=True) if n.startswith(ours)
        ]
        # In slices: a URL naming hundreds of indexes is longer than a node accepts.
        for start in range(0, len(names), 50):
            es.indices.delete(index=",".join(names[start : start + 50]), ignore_unavailable=True)
        try:
            templates = es.indices.get_index_template(name=pattern)["index_templates"]
        except NotFoundError:
            templates = []
        for template in templates:
            if template["name"].startswith(ours):
                es.indices.delete_index_template(name=template["name"])
    except Exception as exc:  # a test that stopped Elasticsearch on purpose
        warnings.warn(f"indexes of {', '.join(prefixes)[:200]} not deleted: {exc}", stacklevel=1)
    finally:
        es.close()


@pytest.fixture
def hit_store(isolated: Path, settings: Any) -> Iterator[HitStore]:
    store = HitStore(settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX)
    store.ensure_index()
    yield store
    store.delete_index()
    store.close()


@pytest.fixture
def image_store(isolated: Path, settings: Any) -> Iterator[ImageStore]:
    """The crawled images' fingerprints (retro-match's side)."""
    store = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    store.ensure_index()
    yield store
    store.delete_index()
    store.close()


@pytest.fixture
def mailbox(settings: Any) -> Iterator[MailSink]:
    controller, sink = start_sink()
    # Django's test set-up swaps in the in-memory backend; these tests speak real SMTP.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    yield sink
    controller.stop()


def _load(name: str) -> Any:
    return json.loads((DATA / "discourse" / name).read_text(encoding="utf-8"))


def real_discourse_site() -> DiscourseSite:
    """Real Discourse responses under Discourse's URL structure.

    /t/2108.json and /t/57.json are served byte for byte; /t/{id}/posts.json answers from the
    real posts we have (a real forum omits posts it cannot show, and so do we); /latest.json
    lists those topics; /search.json searches the real posts.
    """
    site = DiscourseSite()
    topic = _load("discuss.criticalfallibilism.com_t_2108_post_452.json")
    pool = list(topic["post_stream"]["posts"])
    for extra in (
        "discuss.criticalfallibilism.com_t_2108_posts.json",
        "discuss.criticalfallibilism.com_t_2108_posts_pn_41.json",
    ):
        pool += _load(extra)["post_stream"]["posts"]
    site.add_topic(
        {"id": topic["id"], "title": topic["title"], "slug": topic["slug"]},
        pool,
        stream=topic["post_stream"]["stream"],
    )
    site.raw["/t/2108.json"] = (
        DATA / "discourse" / "discuss.criticalfallibilism.com_t_2108_post_452.json"
    ).read_bytes()
    sandbox = _load("discourse_api_fixture_topic.json")
    site.add_topic(
        {"id": sandbox["id"], "title": sandbox["title"], "slug": sandbox["slug"]},
        sandbox["post_stream"]["posts"],
    )
    site.raw["/t/57.json"] = (DATA / "discourse" / "discourse_api_fixture_topic.json").read_bytes()
    return site


@pytest.fixture
def discourse_site() -> Iterator[tuple[DiscourseSite, str]]:
    site = real_discourse_site()
    server = serve(site)
    yield site, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def write_source(directory: Path, source_id: str, base_url: str, **extra: Any) -> Path:
    import yaml

    data = {
        "id": source_id,
        "kind": "discourse",
        "base_url": base_url,
        "crawl_interval": "15m",
        "enabled": True,
        "allow_private_addresses": True,
        "options": {"latest_pages": 1},
    }
    data.update(extra)
    path = directory / f"{source_id}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def database_contents() -> bytes:
    """Everything the test database holds, as bytes in which to look for a client's traces.

    SQLite: the file itself (deleted rows are overwritten: secure_delete). PostgreSQL: a dump
    of every table, which is what any query could still read.
    """
    from django.db import connection

    db = django_settings.DATABASES["default"]
    connection.close()
    if database_vendor() == "sqlite":
        path = Path(db["TEST"]["NAME"])
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    name = str(connection.settings_dict["NAME"])  # the test database, once it exists
    env = {"PGPASSWORD": str(db.get("PASSWORD") or ""), "PATH": "/usr/bin:/bin"}
    args = ["pg_dump", "--data-only", "-h", str(db.get("HOST") or "127.0.0.1")]
    args += ["-p", str(db.get("PORT") or 5432), "-U", str(db["USER"]), name]
    return subprocess.run(args, check=True, capture_output=True, env=env).stdout
