"""The demo forum's content, written for the demo. Names and places are invented."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from demo.discourse_server import DiscourseSite

# The demo client's registered photo, and where the demo forum re-posts a copy of it.
PHOTO = Path(__file__).resolve().parent / "photos" / "opencv_fruits.jpg"
UPLOAD = "/uploads/default/original/1X/7d3c1f0e5b.jpeg"


def reposted_photo() -> bytes:
    """The photo as a harasser re-posts it: mirrored and recompressed (made in memory)."""
    image = ImageOps.mirror(Image.open(PHOTO).convert("RGB"))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    return out.getvalue()


_TOPICS: list[tuple[str, str, list[tuple[str, str, str]]]] = [
    (
        "Quelqu'un connaît Camille Moreau ?",
        "quelquun-connait-camille-moreau",
        [
            (
                "lebonvoisin",
                "2026-11-20T18:02:11.000Z",
                "<p>Vous avez vu ce que Camille Moreau a posté la semaine dernière ? "
                "Il faut que tout le monde sache qui elle est vraiment.</p>",
            ),
            (
                "marine_r",
                "2026-11-20T18:40:53.000Z",
                "<p>Laisse tomber, ça ne regarde personne.</p>",
            ),
            (
                "lebonvoisin",
                "2026-11-21T07:15:02.000Z",
                "<p>J'ai encore des photos d'elle. Si <b>CAMILLE MOREAU</b> ne répond pas à mes messages, "
                "je les mets ici.</p>",
            ),
            (
                "lebonvoisin",
                "2026-11-22T23:48:19.000Z",
                "<p>Vous voyez que je ne bluffe pas.</p>"
                f'<p><img src="{UPLOAD}" alt="photo" width="512" height="480"></p>',
            ),
        ],
    ),
    (
        "Sortie vélo dimanche",
        "sortie-velo-dimanche",
        [
            (
                "jp_cycliste",
                "2026-11-22T09:00:00.000Z",
                "<p>Départ 9 h devant la mairie, 45 km, retour pour le déjeuner.</p>",
            ),
            ("marine_r", "2026-11-22T10:12:00.000Z", "<p>Je viens, j'apporte les croissants.</p>"),
        ],
    ),
    (
        "Rumeurs au lycée des Lilas",
        "rumeurs-au-lycee-des-lilas",
        [
            (
                "anonyme_77",
                "2026-11-23T21:30:45.000Z",
                "<p>Son compte c'est cmoreau_92, allez lui dire ce que vous en pensez.</p>",
            ),
            (
                "modo_lilas",
                "2026-11-23T22:01:10.000Z",
                "<p>Rappel : les attaques personnelles sont interdites sur ce forum.</p>",
            ),
        ],
    ),
]


def demo_site() -> DiscourseSite:
    site = DiscourseSite()
    post_id = 1000
    for topic_id, (title, slug, posts) in enumerate(_TOPICS, start=101):
        records: list[dict[str, Any]] = []
        for number, (username, created_at, cooked) in enumerate(posts, start=1):
            post_id += 1
            records.append(
                {
                    "id": post_id,
                    "username": username,
                    "name": None,
                    "created_at": created_at,
                    "cooked": cooked,
                    "post_number": number,
                    "topic_id": topic_id,
                    "topic_slug": slug,
                    "post_url": f"/t/{slug}/{topic_id}/{number}",
                }
            )
        site.add_topic({"id": topic_id, "title": title, "slug": slug}, records)
    site.uploads[UPLOAD] = ("image/jpeg", reposted_photo())
    return site
