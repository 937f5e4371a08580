"""Privacy, provable: photos never stored, erasure leaves nothing searchable, access export."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import tempfile
import time
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from alerts.models import Alert, Delivery
from clients.models import Client, ClientPhoto, ClientVideo, WatchTerm
from clients.photos import register_photo
from clients.videos import register_video
from hits.documents import Hit, MatchedTerm, MatchKind
from hits.journal import HitJournal
from operations.privacy import erase_client, export_client, purge_dismissed_hits
from takedowns.models import AllowListEntry, AuditEvent, Case, Notice
from takedowns.services import add_hit_to_case
from tests.conftest import DATA, database_contents

pytestmark = [pytest.mark.privacy, pytest.mark.django_db(transaction=True)]

PHOTO = DATA / "photos" / "opencv_baboon.jpg"


def _files_containing(root: Path, needles: list[bytes], since: float) -> list[Path]:
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                if (
                    path.stat().st_mtime < since
                    or path.stat().st_size > 200_000_000
                    or DATA in path.parents
                ):
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if any(n in data for n in needles):
                found.append(path)
    return found


def _es_dump(store) -> str:
    es = store._es
    es.indices.refresh(index=f"{store.index.rsplit('-', 1)[0]}-*")
    response = es.search(
        index=f"{store.index.rsplit('-', 1)[0]}-*", size=10000, query={"match_all": {}}
    )
    return json.dumps(response["hits"]["hits"])


def test_client_photos_are_never_stored_anywhere(isolated: Path, hit_store, settings, staff_admin):
    started = time.time() - 1
    data = PHOTO.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    needles = [data[1000:1256], data[-256:], digest.encode()]
    client = Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@example.org")

    # Through the admin (upload kept in memory) and through the command (file read by staff).
    from django.core.files.uploadedfile import SimpleUploadedFile

    staff_admin.post(
        f"/admin/clients/client/{client.pk}/change/",
        {
            "reference": "jeanne", "display_name": "Jeanne", "email": "j@example.org", "language": "fr",
            "alert_preference": "immediate", "alert_detail": "summary", "active": "on",
            "terms-TOTAL_FORMS": "0", "terms-INITIAL_FORMS": "0", "terms-MIN_NUM_FORMS": "0", "terms-MAX_NUM_FORMS": "1000",
            "photos-TOTAL_FORMS": "1", "photos-INITIAL_FORMS": "0", "photos-MIN_NUM_FORMS": "0", "photos-MAX_NUM_FORMS": "1000",
            "videos-TOTAL_FORMS": "0", "videos-INITIAL_FORMS": "0", "videos-MIN_NUM_FORMS": "0", "videos-MAX_NUM_FORMS": "1000",
            "photos-0-label": "photo 1", "photos-0-photo": SimpleUploadedFile("p.jpg", data, content_type="image/jpeg"),
        },
    )  # fmt: skip
    call_command("register_photo", "jeanne", str(PHOTO), "--label", "photo 2")
    assert ClientPhoto.objects.filter(client=client).count() == 2

    db_bytes = database_contents()
    assert not any(n in db_bytes for n in needles), "photo bytes or hash in the database"
    assert _files_containing(Path(settings.BODYGUARD_VAR_DIR), needles, started) == []
    assert _files_containing(Path(tempfile.gettempdir()), needles, started) == []
    dump = _es_dump(hit_store)
    assert digest not in dump and data[1000:1256].hex() not in dump


VIDEO = DATA / "video" / "moviepy_big_buck_bunny_432_433.webm"


def _video_needles(data: bytes) -> list[bytes]:
    """What would show that the video itself, not its hashes, was kept: pieces of the file
    (start, middle, end), raw and as text (hex, base64, as a JSON field would hold them), and
    its SHA-256. Its MD5 is kept, by design."""
    middle = len(data) // 2
    pieces = [data[:256], data[middle : middle + 256], data[-256:]]
    whole = base64.b64encode(data)
    return [
        *pieces,
        *(p.hex().encode() for p in pieces),
        whole[len(whole) // 2 : len(whole) // 2 + 256],
        hashlib.sha256(data).hexdigest().encode(),
    ]


def test_client_videos_are_never_stored_anywhere(
    isolated: Path, hit_store, settings, staff_admin, monkeypatch
):
    from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile

    def spooled_to_disk(*args: object, **kwargs: object) -> None:
        raise AssertionError("an upload was spooled to a temporary file")

    monkeypatch.setattr(TemporaryUploadedFile, "__init__", spooled_to_disk)
    started = time.time() - 1
    data = VIDEO.read_bytes()
    needles = _video_needles(data)
    client = Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@example.org")

    # Through the admin (the upload stays in memory), the command (a file read by staff) and a
    # hash list exported and imported again.
    response = staff_admin.post(
        f"/admin/clients/client/{client.pk}/change/",
        {
            "reference": "jeanne", "display_name": "Jeanne", "email": "j@example.org", "language": "fr",
            "alert_preference": "immediate", "alert_detail": "summary", "active": "on",
            "terms-TOTAL_FORMS": "0", "terms-INITIAL_FORMS": "0", "terms-MIN_NUM_FORMS": "0", "terms-MAX_NUM_FORMS": "1000",
            "photos-TOTAL_FORMS": "0", "photos-INITIAL_FORMS": "0", "photos-MIN_NUM_FORMS": "0", "photos-MAX_NUM_FORMS": "1000",
            "videos-TOTAL_FORMS": "1", "videos-INITIAL_FORMS": "0", "videos-MIN_NUM_FORMS": "0", "videos-MAX_NUM_FORMS": "1000",
            "videos-0-label": "video 1", "videos-0-video": SimpleUploadedFile("v.webm", data, content_type="video/webm"),
        },
    )  # fmt: skip
    assert response.status_code == 302
    call_command("register_video", "jeanne", "video 2", str(VIDEO))
    listed = isolated / "hashes.csv"
    call_command("export_hashes", "jeanne", "--output", str(listed))
    other = Client.objects.create(reference="paul", display_name="Paul", email="p@example.org")
    call_command("import_hashes", "paul", str(listed))
    assert ClientVideo.objects.filter(client=client).count() == 2
    assert ClientVideo.objects.get(client=other).md5 == hashlib.md5(data).hexdigest()

    db_bytes = database_contents()
    assert hashlib.md5(data).hexdigest().encode() in db_bytes  # the scan reads the video rows
    assert not any(n in db_bytes for n in needles), "video bytes or SHA-256 in the database"
    assert _files_containing(Path(settings.BODYGUARD_VAR_DIR), needles, started) == []
    assert _files_containing(Path(tempfile.gettempdir()), needles, started) == []
    assert _files_containing(isolated, needles, started) == []
    dump = _es_dump(hit_store).encode()
    assert not any(n in dump for n in needles[3:])


@pytest.mark.postgresql
def test_postgresql_files_hold_a_videos_hashes_never_the_video():
    """What is on the server's disk, read raw (tests.operations.test_databases): the rows of a
    registered video hold its MD5 and frame hashes; no relation file holds the video."""
    from tests.operations.test_databases import _postgresql_relations_holding

    data = VIDEO.read_bytes()
    client = Client.objects.create(reference="jeanne", display_name="Jeanne", email="j@example.org")
    register_video(client, "video 1", data)
    md5 = hashlib.md5(data).hexdigest().encode()
    needles = tuple(_video_needles(data))

    found = _postgresql_relations_holding((md5, *needles))

    assert "clients_clientvideo" in found[md5]
    assert {n: found[n] for n in needles} == {n: set() for n in needles}


def _hit(
    client: str,
    url: str,
    kind: MatchKind = MatchKind.NAME,
    status: str = "new",
    seen: datetime | None = None,
) -> Hit:
    moment = seen or datetime.now(UTC)
    text = "Jeanne Dupont"
    return Hit(
        client_id=client, source_id="forum", url=url, match_kind=kind,
        matched_terms=(MatchedTerm("Jeanne Dupont", text, "exact", 0, len(text)),),
        first_seen=moment, last_seen=moment, excerpt=f"on parle de {text} ici", review_status=status,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture
def jeanne(isolated: Path, hit_store, settings):
    client = Client.objects.create(
        reference="jeanne-dupont", display_name="Jeanne Dupont", email="jeanne@example.org"
    )
    WatchTerm.objects.create(client=client, kind="name", value="Jeanne Dupont")
    WatchTerm.objects.create(client=client, kind="alias", value="jdupont75")
    register_photo(client, "photo 1", PHOTO.read_bytes())
    register_video(client, "video 1", VIDEO.read_bytes())
    hits = [_hit("jeanne-dupont", f"https://forum{i}.example/t/{i}") for i in range(3)]
    hit_store.upsert(hits)
    for hit in hits:
        Alert.objects.create(
            client=client,
            hit_id=hit.hit_id,
            source_id="forum",
            host=hit.host,
            match_kind="name",
            hit_first_seen=hit.first_seen,
        )
        add_hit_to_case(client, hit)
    held = Case.objects.get(host="forum0.example")
    held.legal_hold = True
    held.save()
    HitJournal(settings.BODYGUARD_JOURNAL_DIR, hit_store.index).append(
        [_hit("jeanne-dupont", "https://late.example/t/9")]
    )
    # What the takedown team and the client leave behind: an allow-listed own account, an email
    # delivery, a notice, the audit trail, the admin's history.
    AllowListEntry.objects.create(
        client=client, kind="account", host="forum1.example", value="jdupont75",
        reason="her own account", created_by="rev",
    )  # fmt: skip
    delivery = Delivery.objects.create(
        client=client, kind="immediate", idempotency_key="k" * 64, next_attempt_at=datetime.now(UTC)
    )
    Alert.objects.filter(client=client).update(delivery=delivery)
    doomed = Case.objects.get(host="forum1.example")
    Notice.objects.create(
        case=doomed, route="dsa16", recipient="Host", subject="s", created_by="rev",
        body="agissant pour le compte de Jeanne Dupont, https://forum1.example/t/1",
    )  # fmt: skip
    AuditEvent.objects.create(who="rev", action="view_client", target="client:jeanne-dupont")
    AuditEvent.objects.create(
        who="rev",
        action="allowlist",
        target=hits[1].hit_id,
        detail="account forum1.example jdupont75",
    )
    AuditEvent.objects.create(
        who="client:jeanne-dupont", action="alert_preferences", target="client:jeanne-dupont"
    )
    admin = User.objects.create_user("admin-user")
    LogEntry.objects.create(
        user=admin, content_type=ContentType.objects.get_for_model(Client),
        object_id=str(client.pk), object_repr=str(client), action_flag=1,
    )  # fmt: skip
    video = ClientVideo.objects.get(client=client)
    LogEntry.objects.create(
        user=admin, content_type=ContentType.objects.get_for_model(ClientVideo),
        object_id=str(video.pk), object_repr=str(video), action_flag=2,
    )  # fmt: skip
    other = Client.objects.create(reference="paul", display_name="Paul", email="p@example.org")
    hit_store.upsert([_hit("paul", "https://forum9.example/t/1")])
    return client, other, held


def test_erasure_removes_everything_but_cases_under_legal_hold(jeanne, hit_store, settings):
    _client, _other, held = jeanne

    report = erase_client("jeanne-dupont")

    assert report.cases_kept_under_legal_hold == [held.pk]
    assert report.hits_deleted == 2
    assert report.journal_entries_deleted == 1
    assert not Client.objects.filter(reference="jeanne-dupont").exists()
    assert not WatchTerm.objects.filter(value__in=["Jeanne Dupont", "jdupont75"]).exists()
    assert not ClientPhoto.objects.exists()
    assert report.videos_deleted == 1
    assert not ClientVideo.objects.exists()
    assert Alert.objects.count() == 0
    assert list(Case.objects.values_list("pk", "client_reference", "legal_hold")) == [
        (held.pk, "jeanne-dupont", True)
    ]
    # Nothing searchable remains but the held case's own hit; the other client is untouched.
    remaining = [h.url for h in hit_store.latest(size=100)]
    assert sorted(remaining) == ["https://forum0.example/t/0", "https://forum9.example/t/1"]
    assert HitJournal(settings.BODYGUARD_JOURNAL_DIR, hit_store.index).pending() == []
    assert not AllowListEntry.objects.exists() and not Delivery.objects.exists()
    assert not Notice.objects.exists()
    # The audit log keeps its entries (who did what, when) but not what named her.
    assert AuditEvent.objects.filter(action__in=["view_client", "allowlist"]).count() == 2
    assert report.audit_entries_redacted == 3 and report.admin_log_entries_deleted == 2
    db = database_contents()
    for trace in (b"jdupont75", b"jeanne@example.org", b"Jeanne Dupont", b"client:jeanne-dupont"):
        assert trace not in db, trace


def test_erasure_command_names_an_unknown_client(isolated):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no client 'nobody'"):
        call_command("erase_client", "nobody")


def test_access_export_lists_everything_held(jeanne, tmp_path):
    out = tmp_path / "jeanne.json"
    call_command("export_client", "jeanne-dupont", "--output", str(out))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["client"]["email"] == "jeanne@example.org"
    assert {t["value"] for t in data["watch_terms"]} == {"Jeanne Dupont", "jdupont75"}
    assert data["photos"][0]["label"] == "photo 1" and len(data["photos"][0]["pdq_hashes"]) >= 8
    assert data["videos"][0]["label"] == "video 1"
    assert data["videos"][0]["md5"] == hashlib.md5(VIDEO.read_bytes()).hexdigest()
    assert len(data["videos"][0]["frame_hashes"]) >= 1
    assert len(data["hits"]) == 3 and len(data["alerts"]) == 3 and len(data["cases"]) == 3
    assert data["allowlist"] == [
        {
            "kind": "account",
            "site": "forum1.example",
            "value": "jdupont75",
            "reason": "her own account",
        }
    ]
    assert next(n["text"] for c in data["cases"] for n in c["notices"]).startswith("agissant")
    assert data["emails"][0]["status"] == "pending"
    assert export_client("jeanne-dupont")["client"]["id"] == "jeanne-dupont"


def test_retention_purges_old_dismissed_hits_only(isolated, hit_store, settings):
    old = datetime.now(UTC) - timedelta(days=120)
    hit_store.upsert(
        [
            _hit("c", "https://a.example/old-dismissed", status="dismissed", seen=old),
            _hit("c", "https://a.example/recent-dismissed", status="dismissed"),
            _hit("c", "https://a.example/old-confirmed", status="confirmed", seen=old),
        ]
    )
    settings.BODYGUARD_RETENTION_DAYS = 90
    assert purge_dismissed_hits() == 1
    assert sorted(h.url.rsplit("/", 1)[1] for h in hit_store.latest()) == [
        "old-confirmed",
        "recent-dismissed",
    ]


@pytest.fixture
def staff_admin(client):
    from django.contrib.auth.models import Permission, User

    user = User.objects.create_user("staff", password="a-long-test-password", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="clients"))
    client.force_login(user)
    return client


# A client whose names are on the real forum pages the crawl reads (tests.conftest).
ERASED_CLIENT = """
clients:
  - id: watched
    display_name: Allan Bloom
    email: allan.bloom@example.org
    names: ["Allan Bloom"]
    aliases: ["Elliot"]
"""
NEEDLES = [b"allan bloom", b"elliot", b"allan.bloom@example.org"]


def _decompressed(data: bytes) -> bytes:
    """Every gzip member of a file, as far as it can be read (a killed crawl's WARC is torn)."""
    out = []
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out.append(inflater.decompress(data))
        except zlib.error:
            break
        data = inflater.unused_data
    return b"".join(out)


def _traces(roots: list[Path], store) -> list[str]:
    """Where the client's names, alias or email can still be found: files (raw bytes and
    gz-decompressed) under ``roots``, and every index of this test."""
    found = []
    for root in roots:
        for path in (p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            if path.suffix == ".gz":
                data += _decompressed(data)
            found += [f"{path}: {n!r}" for n in NEEDLES if n in data.lower()]
    prefix = store.index.removesuffix("-hits")
    store._es.indices.refresh(index=f"{prefix}*")
    # The corpus keeps public posts that are not about the client (another "Elliot"): what
    # it must lose is checked apart, by the posts behind the client's hits.
    dump = json.dumps(
        store._es.search(index=f"{prefix}*,-{prefix}-corpus", size=10000, query={"match_all": {}})[
            "hits"
        ]["hits"]
    ).lower()
    found += [f"index {prefix}*: {n!r}" for n in NEEDLES if n.decode() in dump]
    return found


def _record_ids(evidence: Path) -> set[str]:
    ids = set()
    for path in evidence.rglob("*.warc.gz"):
        ids |= set(re.findall(rb"<urn:uuid:[0-9a-f-]+>", _decompressed(path.read_bytes())))
    return {i.decode() for i in ids}


def test_an_erasure_interrupted_at_any_step_finishes_when_run_again_and_leaves_nothing(
    isolated: Path, settings, discourse_site, hit_store, mailbox
):
    from crawlers.evidence import EvidenceWriter, capture_of
    from crawlers.fetch import Fetched
    from demo.smtp_sink import free_port
    from hits.errors import HitStoreUnavailable
    from hits.tombstones import ErasedClients
    from operations.privacy import ErasureStep
    from operations.scheduler import configured_sources, run_cycle
    from tests.conftest import write_source
    from tests.hits.test_store import IMMENSE
    from tests.test_never_lose_a_hit import HOSTILE_POST

    site, base_url = discourse_site
    site.posts[HOSTILE_POST]["username"] = IMMENSE  # one hit goes to the dead letters
    (isolated / "clients.yaml").write_text(ERASED_CLIENT, encoding="utf-8")
    from clients.services import import_client_file

    import_client_file(isolated / "clients.yaml")
    write_source(isolated / "sources", "cf-forum", base_url)
    run_cycle(list(configured_sources().values()))
    hits = list(hit_store.iter_of_client("watched"))
    assert len(hits) >= 4 and all(h.evidence_record_id for h in hits)
    evidence = Path(settings.BODYGUARD_EVIDENCE_DIR)
    # A screenshot of one page, and a capture in a WARC a killed crawl never listed.
    shots = EvidenceWriter(evidence, "screenshots")
    shot = shots.write_resource(
        hits[0].url, b"\x89PNG fake", "image/png", "2026-12-01T00:00:00Z", {}
    )
    shots.close()
    hit_store.set_screenshot(hits[0].hit_id, shot.warc, shot.record_id, shot.payload_sha256)
    unlisted = EvidenceWriter(evidence, "killed-crawl")
    page = (
        DATA / "discourse" / "discuss.criticalfallibilism.com_t_2108_post_452.json"
    ).read_bytes()
    now = datetime.now(UTC)
    late = unlisted.write(capture_of(Fetched(
        url=base_url + "/t/2108.json", final_url=base_url + "/t/2108.json", redirect_chain=(),
        status=200, headers=(("Content-Type", "application/json"),), request_headers=(),
        body=page, server_ip="127.0.0.1", fetched_at=now, truncated=False,
    )))  # fmt: skip
    assert unlisted.file is not None
    unlisted.file.flush()  # never closed: not in the manifest
    late_hit = replace(_hit("watched", base_url + "/t/2108/9999"), evidence_warc=late.warc,
                       evidence_record_id=late.record_id, excerpt="Allan Bloom, encore")  # fmt: skip
    hit_store.upsert([late_hit])
    HitJournal(settings.BODYGUARD_JOURNAL_DIR, hit_store.index).append(
        [_hit("watched", "https://late.example/t/1")]
    )
    doomed = {h.evidence_record_id for h in hits} | {shot.record_id, late.record_id}
    assert doomed <= _record_ids(evidence)
    real_url = settings.BODYGUARD_ELASTICSEARCH_URL

    # A disk that will not take the rewritten evidence file: the hits stay, to find it again.
    warc = evidence / hits[1].evidence_warc
    blocker = warc.with_name(f".{warc.name}.erasing")
    blocker.mkdir()
    crawled = {h.evidence_record_id for h in hits[1:]}
    with pytest.raises(OSError):
        erase_client("watched")
    assert hit_store.count("watched") == len(hits) + 1
    assert crawled <= _record_ids(evidence)
    blocker.rmdir()

    # Elasticsearch out of reach at the first step that needs it: nothing is lost.
    settings.BODYGUARD_ELASTICSEARCH_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HitStoreUnavailable):
        erase_client("watched")
    assert "watched" in ErasedClients(settings.BODYGUARD_JOURNAL_DIR)
    assert Client.objects.filter(reference="watched").exists()
    # The evidence step done, then Elasticsearch fails before the hits are deleted.
    settings.BODYGUARD_ELASTICSEARCH_URL = real_url
    done = erase_client("watched", steps=[ErasureStep.EVIDENCE])
    assert done.evidence_records_deleted >= 3 * len(doomed) - 2  # a resource has no request
    assert hit_store.count("watched") == len(hits) + 1
    settings.BODYGUARD_ELASTICSEARCH_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(HitStoreUnavailable):
        erase_client("watched")

    settings.BODYGUARD_ELASTICSEARCH_URL = real_url
    report = erase_client("watched")

    unlisted.file.close()
    corpus = f"{hit_store.index.removesuffix('-hits')}-corpus"
    hit_store._es.indices.refresh(index=corpus)
    behind = [h.canonical_url for h in hits]
    left = hit_store._es.search(index=corpus, query={"terms": {"canonical_url": behind}})
    assert report.corpus_posts_deleted >= len(hits) and left["hits"]["total"]["value"] == 0
    assert report.hits_deleted == len(hits) + 1
    assert report.journal_entries_deleted == 1 and report.dead_letters_deleted == 1
    assert not Client.objects.filter(reference="watched").exists()
    assert not doomed & _record_ids(evidence)
    var = Path(settings.BODYGUARD_VAR_DIR)
    assert list((var / "logs" / "crawls").glob("*.log"))  # the crawl logs are searched too
    roots = [evidence, var, Path(settings.BODYGUARD_JOURNAL_DIR)]
    assert _traces(roots, hit_store) == []


def test_access_export_and_erasure_cover_more_than_ten_thousand_hits(jeanne, hit_store, tmp_path):
    from elasticsearch import helpers

    from hits.documents import HitDocument
    from takedowns.models import CaseHit, Recheck

    many = [
        replace(
            _hit("jeanne-dupont", f"https://big.example/t/{n}"),
            evidence_warc="2026-12-01/x.warc.gz",
            evidence_record_id=f"<urn:uuid:{n}>",
            evidence_sha256=f"{n:064x}",
        )
        for n in range(10_050)
    ]
    helpers.bulk(
        hit_store._es,
        ({"_index": hit_store.index, "_id": h.hit_id, "_source": HitDocument.from_domain(h)} for h in many),
        refresh="wait_for", chunk_size=2000,
    )  # fmt: skip
    case_hit = CaseHit.objects.filter(case__host="forum1.example").get()
    Recheck.objects.create(case_hit=case_hit, checked_at=datetime.now(UTC), url="https://forum1.example/t/1",
                           http_status=404, verdict="removed", body_sha256="f" * 64)  # fmt: skip

    out = tmp_path / "jeanne.json"
    call_command("export_client", "jeanne-dupont", "--output", str(out))
    data = json.loads(out.read_text(encoding="utf-8"))

    assert len(data["hits"]) == 10_053
    by_hit = {e["hit_id"]: e for e in data["evidence"]}
    assert by_hit[many[-1].hit_id]["sha256"] == many[-1].evidence_sha256
    assert by_hit[many[-1].hit_id]["record_id"] == many[-1].evidence_record_id
    assert [(r["verdict"], r["http_status"]) for r in data["rechecks"]] == [("removed", 404)]
    assert {(a["action"], a["target"]) for a in data["audit"]} >= {
        ("view_client", "client:jeanne-dupont"),
        ("allowlist", case_hit.hit_id),
        ("alert_preferences", "client:jeanne-dupont"),
    }

    report = erase_client("jeanne-dupont")
    assert report.hits_deleted == 10_052  # all but the one under legal hold
    assert hit_store.count("jeanne-dupont") == 1
