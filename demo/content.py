"""The demo forum's content, written for the demo. Names and places are invented."""

from __future__ import annotations

from typing import Any

from demo.discourse_server import DiscourseSite

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
    return site
