"""``make demo``: one monitoring cycle on local parts, a summary, then the web app.

The demo keeps its own SQLite database (var/demo/) and index prefix (bodyguard-demo) and resets
both on every run, so it always shows a fresh cycle and never touches real data.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_VAR = ROOT / "var" / "demo"


def _prepare_environment(smtp_port: int) -> None:
    # The demo is an entry point: it composes its configuration before Django reads it.
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{DEMO_VAR / 'demo.sqlite3'}",
            "BODYGUARD_VAR_DIR": str(DEMO_VAR),
            "BODYGUARD_INDEX_PREFIX": "bodyguard-demo",
            "BODYGUARD_SOURCES_DIR": str(DEMO_VAR / "sources"),
            "BODYGUARD_JOURNAL_DIR": str(DEMO_VAR / "journal"),
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "EMAIL_USE_TLS": "0",
            "BODYGUARD_CRAWL_TIME_LIMIT": "120",
        }
    )


def _write_source(port: int) -> None:
    sources = DEMO_VAR / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    (sources / "demo-forum.yaml").write_text(
        "# Written by `make demo` for its local forum.\n"
        "id: demo-forum\n"
        "kind: discourse\n"
        f"base_url: http://127.0.0.1:{port}\n"
        "crawl_interval: 15m\n"
        "enabled: true\n"
        "allow_private_addresses: true  # the demo forum runs on this machine\n"
        "notes: Local demo forum with content written for the demo.\n"
        "options:\n  latest_pages: 1\n",
        encoding="utf-8",
    )


def main() -> int:
    from demo.smtp_sink import free_port, start_sink

    if DEMO_VAR.exists():
        shutil.rmtree(DEMO_VAR)
    DEMO_VAR.mkdir(parents=True)
    smtp_port = free_port()
    _prepare_environment(smtp_port)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from alerts.services import hit_store
    from clients.models import Client
    from clients.photos import register_photo
    from clients.services import import_client_file
    from demo.content import PHOTO, demo_site
    from demo.discourse_server import serve
    from hits.errors import HitStoreError
    from hits.images import ImageStore
    from operations.scheduler import configured_sources, run_cycle
    from takedowns.models import Case

    print("== Bodyguard demo ==")
    call_command("migrate", verbosity=0)
    store = hit_store()
    images = ImageStore.connect(
        settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    )
    try:
        # A fresh cycle: no hits and no crawled-image fingerprints from an earlier demo run.
        store.delete_index()
        store.ensure_index()
        images.delete_index()
    except HitStoreError as exc:
        print(f"Elasticsearch is not reachable at {settings.BODYGUARD_ELASTICSEARCH_URL}: {exc}")
        print("Start it with: scripts/elasticsearch.sh start (make demo does this)")
        return 1
    finally:
        images.close()
    report = import_client_file(ROOT / "demo" / "clients.yaml")
    print(f"client registered: {', '.join(report.created)}")
    registered = register_photo(
        Client.objects.get(reference="camille-moreau"), "photo 1", PHOTO.read_bytes()
    )
    print(
        f"photo registered for camille-moreau: {registered.variants} hashes kept, the photo itself is not stored"
    )

    forum = serve(demo_site())
    _write_source(forum.server_port)
    print(f"demo forum (Discourse JSON API) on http://127.0.0.1:{forum.server_port}")
    controller, mailbox = start_sink(smtp_port)
    print(f"SMTP sink on 127.0.0.1:{smtp_port}")

    print("\n-- one monitoring cycle --")
    cycle = run_cycle([s for s in configured_sources().values() if s.enabled])
    for crawl in cycle.crawls:
        print(
            f"crawl {crawl.source_id}: {crawl.status}, {crawl.pages} page(s), {crawl.hits} hit(s) ({crawl.new_hits} new)"
        )
        if crawl.status not in {"ok"}:
            print(f"  {crawl.message}")

    hits = store.latest(size=50)
    print(f"\n-- hits in Elasticsearch (index {store.index}): {store.count()} --")
    for hit in hits:
        if hit.photo_label:
            why = f"photo '{hit.photo_label}' ({hit.photo_tier}, distance {hit.photo_distance})"
        else:
            why = ", ".join(sorted({f"{t.text} ({t.rule})" for t in hit.matched_terms}))
        print(f"  [{hit.severity.name.lower()}] {hit.client_id}  {hit.url}  matched: {why}")
    store.close()

    print(f"\n-- emails received by the SMTP sink: {len(mailbox.messages)} --")
    for message in mailbox.messages:
        print(f"  to {message['To']}: {str(message['Subject']).strip()}")
        body = message.get_body(preferencelist=("plain",))
        if body is not None:
            print("    " + "\n    ".join(body.get_content().strip().splitlines()))

    cases = list(Case.objects.select_related("client").prefetch_related("hits"))
    print(f"\n-- takedown cases: {len(cases)} --")
    for case in cases:
        print(
            f"  case #{case.pk} {case.client_reference} @ {case.host}: {case.state}, {case.hits.count()} hit(s)"
        )

    if cases:
        import hashlib
        import io
        import json
        import zipfile

        from takedowns.evidence import export_case, verify_evidence

        pack = export_case(cases[0].pk, who="demo")
        (DEMO_VAR / f"dossier-{cases[0].pk}.zip").write_bytes(pack)
        archive = zipfile.ZipFile(io.BytesIO(pack))
        manifest = json.loads(archive.read("manifest.json"))
        verified = all(
            hashlib.sha256(archive.read(f["name"])).hexdigest() == f["sha256"]
            for f in manifest["files"]
        )
        print(f"\n-- evidence: {verify_evidence().checked} WARC file(s) captured at hit time --")
        print(
            f"  case #{cases[0].pk} pack: var/demo/dossier-{cases[0].pk}.zip, manifest {'verified' if verified else 'NOT VERIFIED'}"
        )
        print(
            f"  (also from the case page: http://127.0.0.1:8000/review/case/{cases[0].pk}/ -> 'Exporter le dossier de preuves')"
        )

    ok = bool(hits) and bool(mailbox.messages) and bool(cases)
    print(
        "\nDemo cycle "
        + ("succeeded." if ok else "FAILED: expected at least one hit, one email and one case.")
    )
    if not ok or os.environ.get("DEMO_SERVE", "1") == "0":
        controller.stop()
        forum.shutdown()
        return 0 if ok else 1

    from django.contrib.auth.models import Group, User

    password = secrets.token_urlsafe(9)
    user, _ = User.objects.get_or_create(username="demo-staff", defaults={"is_staff": True})
    user.is_staff = True
    user.set_password(password)
    user.save()
    user.groups.set([Group.objects.get(name="staff")])

    reviewer_password = secrets.token_urlsafe(9)
    reviewer, _ = User.objects.get_or_create(username="demo-reviewer", defaults={"is_staff": True})
    reviewer.set_password(reviewer_password)
    reviewer.save()
    reviewer.groups.set([Group.objects.get(name="reviewer")])
    print("\nWeb app: http://127.0.0.1:8000/  (Ctrl-C to stop)")
    print(f"Staff login: demo-staff / {password}  (registers clients in the admin)")
    print(f"Reviewer login: demo-reviewer / {reviewer_password}  (lands on the review queue)")
    try:
        call_command("runserver", "127.0.0.1:8000", use_reloader=False)
    finally:
        controller.stop()
        forum.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
