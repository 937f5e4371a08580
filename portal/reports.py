"""Links she found herself: each becomes a hit to review (kind ``reported``, first in the
queue), captured as evidence at once, filed under her case for that site.

Every fetch goes through the crawls' address guard (crawlers.fetch): a pasted link to an
internal address is refused before anything is fetched, and on every redirect. Nothing of the
page ever goes back to her: she is told "received, our team is on it".
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings

from alerts.models import Alert
from alerts.services import hit_store
from clients.models import Client
from config.sources import Source
from crawlers.evidence import EvidenceWriter, capture_of
from crawlers.fetch import Fetched, FetchPolicy, fetch
from crawlers.guard import AddressRule, Refused, on_web
from hits.documents import Hit, MatchedTerm, MatchKind
from hits.errors import HitStoreError
from hits.urls import canonicalize
from matching.html import html_to_text
from portal.models import ReportedLink
from takedowns.models import CaseNote
from takedowns.services import add_hit_to_case, audit

logger = logging.getLogger(__name__)

SOURCE_ID = "portal"
MAX_LINKS = 10
MAX_PAGE_BYTES = 10 * 1024 * 1024
# What the reviewer reads in the queue's "why" column.
REPORTED_TERM = MatchedTerm(
    term="", text="lien signalé par la cliente", rule="reported", start=0, end=0, score=1.0
)
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_URL_SPLIT = re.compile(r"[\s<>\"']+")


def fetch_policy() -> FetchPolicy:
    """Public addresses only (tests and the demo list their local servers in
    BODYGUARD_PORTAL_PRIVATE_ALLOWLIST)."""
    return FetchPolicy(
        private_allowlist=tuple(settings.BODYGUARD_PORTAL_PRIVATE_ALLOWLIST),
        dns_server=settings.BODYGUARD_DNS_SERVER,
        max_bytes=MAX_PAGE_BYTES,
        deadline_s=30.0,
    )


def split_links(text: str) -> list[str]:
    """The links pasted in a box, one or more per line, in order, each once."""
    return list(dict.fromkeys(part.strip() for part in _URL_SPLIT.split(text) if part.strip()))


def address_problem(url: str) -> str | None:
    """Why this link cannot be taken (in her words, by the view), or None."""
    if len(url) > 2000 or not on_web(url):
        return "not_web"
    rule = AddressRule(
        private_allowlist=tuple(settings.BODYGUARD_PORTAL_PRIVATE_ALLOWLIST),
        dns_server=settings.BODYGUARD_DNS_SERVER,
    )
    checked = rule.check_url(url)
    if isinstance(checked, Refused):
        return "internal" if checked.by_rule else "unreachable"
    return None


@dataclass(frozen=True)
class Reported:
    url: str
    hit_id: str
    case_id: int
    captured: bool


def _title_and_text(response: Fetched) -> tuple[str, str]:
    """For the reviewer only: the page's title and the start of its text."""
    body = response.body
    found = _TITLE.search(body[:200_000])
    title = found.group(1).decode("utf-8", "replace").strip()[:300] if found else ""
    text = html_to_text(body.decode("utf-8", "replace"))
    return " ".join(title.split()), text[:1000]


def report_links(client: Client, urls: list[str], note: str, *, ip: str | None) -> list[Reported]:
    """Capture each page, write it as a ``reported`` hit, file it under her case for its host
    and tell the team (her note goes on the case). Raises HitStoreError when Elasticsearch is
    out of reach (nothing is lost: the view asks her to try again)."""
    now = datetime.now(UTC)
    policy = fetch_policy()
    evidence = EvidenceWriter(Path(settings.BODYGUARD_EVIDENCE_DIR), "reported")
    hits: list[Hit] = []
    details: dict[str, str] = {}
    try:
        for url in urls[:MAX_LINKS]:
            response = fetch(url, policy)
            extra = {"reported_by": "client", "portal": True}
            if isinstance(response, Fetched):
                ref = evidence.write(capture_of(response), extra)
                title, excerpt = _title_and_text(response)
                hits.append(
                    Hit(
                        client_id=client.reference,
                        source_id=SOURCE_ID,
                        url=url,
                        match_kind=MatchKind.REPORTED,
                        matched_terms=(REPORTED_TERM,),
                        first_seen=now,
                        last_seen=now,
                        title=title,
                        excerpt=excerpt,
                        content_sha256=hashlib.sha256(response.body).hexdigest(),
                        evidence_warc=ref.warc,
                        evidence_record_id=ref.record_id,
                        evidence_sha256=ref.payload_sha256,
                        captured_at=response.fetched_at,
                    )
                )
            else:
                # Received all the same: the team looks at it by hand.
                details[canonicalize(url)] = response.reason[:300]
                hits.append(
                    Hit(
                        client_id=client.reference,
                        source_id=SOURCE_ID,
                        url=url,
                        match_kind=MatchKind.REPORTED,
                        matched_terms=(REPORTED_TERM,),
                        first_seen=now,
                        last_seen=now,
                    )
                )
    finally:
        evidence.close()
    store = hit_store()
    try:
        store.upsert(hits)
        done = _file(client, hits, note, details)
        # She told us herself: no alert email about her own link.
        store.mark_alerted([h.hit_id for h in hits])
        if settings.BODYGUARD_SCREENSHOTS:
            _screenshots(store, [h for h in hits if h.evidence_record_id])
    finally:
        store.close()
    audit(
        f"client:{client.reference}",
        "portal_reported_links",
        f"client:{client.reference}",
        f"{len(hits)} link(s) from {ip}",
    )
    return done


def _file(client: Client, hits: list[Hit], note: str, details: dict[str, str]) -> list[Reported]:
    done = []
    noted: set[int] = set()
    for hit in hits:
        Alert.objects.get_or_create(
            hit_id=hit.hit_id,
            defaults={
                "client": client,
                "source_id": hit.source_id,
                "host": hit.host,
                "url": hit.url[:2000],
                "match_kind": str(hit.match_kind),
                "severity": int(hit.severity),
                "hit_first_seen": hit.first_seen,
                "status": Alert.Status.SUPPRESSED,
            },
        )
        entry = add_hit_to_case(client, hit)
        captured = bool(hit.evidence_record_id)
        detail = details.get(hit.canonical_url, "")
        ReportedLink.objects.create(
            client=client,
            url=hit.url[:2000],
            note=note,
            hit_id=hit.hit_id,
            case_id=entry.case_id,
            outcome=(
                ReportedLink.Outcome.CAPTURED if captured else ReportedLink.Outcome.NOT_CAPTURED
            ),
            detail=detail,
        )
        if entry.case_id not in noted:
            noted.add(entry.case_id)
            text = "Lien(s) signalé(s) par la cliente depuis son espace."
            if note.strip():
                text += f"\nSa note : {note.strip()}"
            CaseNote.objects.create(case_id=entry.case_id, author="espace victime", text=text)
        if not captured:
            CaseNote.objects.create(
                case_id=entry.case_id,
                author="espace victime",
                text=f"Capture impossible pour {hit.url} : {detail or 'raison inconnue'}",
            )
        audit(
            f"client:{client.reference}", "reported", hit.hit_id, "captured" if captured else detail
        )
        done.append(Reported(hit.url, hit.hit_id, entry.case_id, captured))
    return done


def _screenshots(store: object, hits: list[Hit]) -> None:
    from crawlers.screenshots import screenshot_hits
    from hits.store import HitStore

    assert isinstance(store, HitStore)
    source = Source(
        id=SOURCE_ID,
        kind="generic",
        base_url="https://portal.invalid/",
        crawl_interval=timedelta(days=1),
        enabled=False,
        private_allowlist=tuple(settings.BODYGUARD_PORTAL_PRIVATE_ALLOWLIST),
    )
    chromium = settings.BODYGUARD_CHROMIUM
    try:
        report = screenshot_hits(
            store,
            hits,
            {SOURCE_ID: source},
            Path(settings.BODYGUARD_EVIDENCE_DIR),
            shutil.which(chromium) or chromium,
        )
    except HitStoreError as exc:  # the capture stands without its screenshot
        logger.warning("screenshot of reported links not recorded: %s", exc)
        return
    for failure in report.failures:
        logger.warning("screenshot of a reported link failed: %s", failure)
