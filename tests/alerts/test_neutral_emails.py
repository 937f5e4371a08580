"""Alert emails never carry words a harasser chose: not in a thread's slug, not in a query,
not in the host of a search result."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alerts.models import Alert
from alerts.services import render_alert_email
from clients.models import Client
from clients.services import import_client_file
from hits.documents import Severity
from operations.scheduler import configured_sources, run_cycle
from tests.conftest import write_source

REAL_SLUG = "comments-on-the-boyfriends-introduction-to-feminism"
SLUG_WORDS = ("comments", "boyfriends", "introduction", "feminism")
HOSTILE_SLUG = "jeanne-dupont-est-une-salope-voici-ses-photos"
HOSTILE_HOST = "jeanne-dupont-salope.example.net"


@pytest.mark.django_db(transaction=True)
def test_a_detailed_email_links_to_a_real_discourse_post_without_its_slug(
    isolated: Path, discourse_site, hit_store, mailbox
):
    _site, base_url = discourse_site
    clients = isolated / "clients.yaml"
    clients.write_text(
        "clients:\n  - id: allan-bloom\n    display_name: Allan Bloom\n"
        '    names: ["Allan Bloom"]\n    email: allan.bloom@example.org\n    language: en\n',
        encoding="utf-8",
    )
    import_client_file(clients)
    Client.objects.filter(reference="allan-bloom").update(alert_detail="detailed")
    write_source(isolated / "sources", "cf-forum", base_url)

    run_cycle(list(configured_sources().values()))

    [alert] = Alert.objects.all()
    assert REAL_SLUG in alert.url  # the real post's address carries its thread's title
    body = (
        mailbox.messages[0].get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    )
    assert f"  - {base_url}/t/2108/440\n" in body  # Discourse finds a post by its ids alone
    assert not [w for w in SLUG_WORDS if w in body.lower()]
    assert "on the site: 127.0.0.1." in body


@pytest.mark.django_db
def test_hostile_slugs_queries_and_search_result_hosts_never_reach_the_email(settings, tmp_path):
    settings.BODYGUARD_SOURCES_DIR = tmp_path
    write_source(tmp_path, "forum", "https://forum.example.org/")
    write_source(tmp_path, "brave", "https://api.search.brave.com/res/v1/web/search", kind="brave")
    jeanne = Client.objects.create(
        reference="jd", display_name="Jeanne Dupont", email="j@example.org", alert_detail="detailed"
    )
    urls = {
        "forum": [
            f"https://forum.example.org/t/{HOSTILE_SLUG}/57/3",
            f"https://forum.example.org/threads/{HOSTILE_SLUG}.1234/",
            "https://forum.example.org/viewtopic.php?f=4&t=167&hilit=salope+jeanne#p453",
            f"https://forum.example.org/search?q={HOSTILE_SLUG}",
        ],
        "brave": [f"https://{HOSTILE_HOST}/{HOSTILE_SLUG}.html"],
    }
    alerts = []
    for source, found in urls.items():
        for n, url in enumerate(found):
            alerts.append(
                Alert.objects.create(
                    client=jeanne, hit_id=f"{source}{n}", source_id=source,
                    host=url.split("/")[2], url=url, match_kind="name",
                    severity=Severity.HIGH, hit_first_seen=datetime.now(UTC),
                )
            )  # fmt: skip
    for detail in ("detailed", "summary"):
        jeanne.alert_detail = detail
        subject, body = render_alert_email(jeanne, alerts)
        text = (subject + body).lower()
        for word in ("salope", "photos", "voici", "dupont-est", "hilit", "jeanne-dupont"):
            assert word not in text, (detail, word)
    jeanne.alert_detail = "detailed"
    _subject, body = render_alert_email(jeanne, alerts)
    assert "  - https://forum.example.org/t/57/3\n" in body
    assert "  - https://forum.example.org/threads/1234\n" in body
    assert "  - https://forum.example.org/viewtopic.php?f=4&t=167#p453\n" in body
    assert "api.search.brave.com" in body  # the search we configured, not the result's host
    assert "Une autre page est sur un site que nous ne surveillons pas directement" in body
