"""What the takedown team's tests share: users in their roles, and a client with hits served
by a local site built on real forum pages."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.contrib.auth.models import Group, User
from PIL import Image, ImageOps

from clients.models import Client, Mandate, Scope
from clients.photos import register_photo
from config.environment import Notifier
from hits.documents import Hit, MatchedTerm, MatchKind
from hits.store import HitStore
from takedowns.models import Case
from takedowns.services import add_hit_to_case
from tests.conftest import DATA, write_source
from tests.crawlers.static_site import Route, StaticSite

PHPBB_PAGE = (DATA / "forums" / "phpbb3_foren.myoos.de_viewtopic.html").read_bytes()
PHOTO = DATA / "photos" / "opencv_baboon.jpg"
TOPIC = "/viewtopic.php?f=4&t=167"
IMAGE = "/files/baboon.jpg"
PASSWORD = "a-long-test-password-42"
# Who signs the notices in tests: every element an LCEN notice needs.
NOTIFIER = Notifier(
    name="SOS Cyber-harcèlement",
    legal_form="association loi 1901",
    address="12 rue de l'Exemple, 75011 Paris",
    email="signalement@sos.example",
    representative="Claire Martin, présidente",
)


def make_user(name: str, role: str) -> User:
    user = User.objects.create_user(name, password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def reposted_photo() -> bytes:
    """The registered photo as harassers re-post it: mirrored and recompressed."""
    image = Image.open(PHOTO).convert("RGB")
    out = io.BytesIO()
    ImageOps.mirror(image).save(out, "JPEG", quality=75)
    return out.getvalue()


def forum_site() -> StaticSite:
    """A real phpBB topic (it names Richard Stallman) and a re-posted photo."""
    return StaticSite(
        {
            "/viewtopic.php": Route(PHPBB_PAGE, "text/html; charset=utf-8"),
            IMAGE: Route(reposted_photo(), "image/jpeg"),
        }
    )


@dataclass
class Seeded:
    client: Client
    name_hit: Hit
    photo_hit: Hit
    case: Case


def give_mandate(client: Client, scopes: tuple[str, ...] = tuple(Scope.values)) -> Mandate:
    """Her signed mandate, as her space records it (no notice goes in her name without one)."""
    return Mandate.objects.create(
        client=client, full_name=client.display_name, email=client.email, scopes=list(scopes),
        signature=client.display_name, text="Mandat (test)", signed_at=datetime.now(UTC),
        ip="192.0.2.1",
    )  # fmt: skip


def seed(store: HitStore, base: str, sources_dir: Path, *, days_ago: int = 0) -> Seeded:
    """Client Richard Stallman, named on the topic and with his photo re-posted on it."""
    write_source(sources_dir, "myoos", base, kind="phpbb")
    client = Client.objects.create(
        reference="rms", display_name="Richard Stallman", email="rms@example.org"
    )
    client.terms.create(kind="name", value="Richard Stallman")
    give_mandate(client)
    register_photo(client, "photo 1", PHOTO.read_bytes())
    seen = datetime.now(UTC) - timedelta(days=days_ago)
    excerpt = "Ein Beitrag über Richard Stallman und freie Software"
    start = excerpt.index("Richard")
    name_hit = Hit(
        client_id="rms", source_id="myoos", url=f"{base}{TOPIC}#p453", match_kind=MatchKind.NAME,
        matched_terms=(MatchedTerm("Richard Stallman", "Richard Stallman", "exact", start, start + 16),),
        first_seen=seen, last_seen=seen, excerpt=excerpt, author="Hartmut", score=1.0,
        thread_url=f"{base}{TOPIC}",
    )  # fmt: skip
    photo_hit = Hit(
        client_id="rms", source_id="myoos", url=f"{base}{TOPIC}#p454", match_kind=MatchKind.IMAGE,
        matched_terms=(), first_seen=seen, last_seen=seen, image_url=f"{base}{IMAGE}",
        photo_label="photo 1", photo_distance=4, photo_tier="strong", score=0.94,
        author="troll42", thread_url=f"{base}{TOPIC}",
    )  # fmt: skip
    store.upsert([name_hit, photo_hit])
    add_hit_to_case(client, name_hit)
    entry = add_hit_to_case(client, photo_hit)
    return Seeded(client, name_hit, photo_hit, Case.objects.get(pk=entry.case_id))
