"""Registering a client photo: hashed in memory, hashes kept, photo forgotten, past images checked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from clients.keys import features_key
from clients.models import Client, ClientPhoto
from hits.errors import HitStoreError
from hits.images import ImageStore
from hits.retro import RetroMatch, retro_match
from hits.store import HitStore
from matching.features import registration_features, seal
from matching.hashes import PdqHash
from matching.images import (
    decode,
    hashes_of,
    registration_hashes,
    retro_part_hashes,
    retro_query_hashes,
)


class PhotoError(ValueError):
    pass


@dataclass(frozen=True)
class Registration:
    photo_id: int
    label: str
    variants: int
    retro: RetroMatch | None
    retro_error: str = ""


def register_photo(client: Client, label: str, data: bytes) -> Registration:
    """Hash ``data`` (never written anywhere), store the hashes, retro-match crawled images."""
    try:
        image = decode(data)
    except ValueError as exc:
        raise PhotoError(f"photo {label!r} of {client.reference}: {exc}") from None
    variants = registration_hashes(image)
    # Looked up among crawled images now, not kept: the photo is never seen again after this.
    retro_only = retro_query_hashes(image)
    parts = retro_part_hashes(image)
    _, quality, _ = hashes_of(image)
    # Sealed before anything is stored: the clear features only ever live in this frame.
    sealed = seal(registration_features(image), features_key())
    del image, data
    photo, _ = ClientPhoto.objects.update_or_create(
        client=client,
        label=label,
        defaults={
            "pdq_hashes": [h.hex() for h in variants],
            "quality": quality,
            "sealed_features": sealed,
        },
    )
    try:
        retro = run_retro_match(photo, retro_only, parts)
    except HitStoreError as exc:
        # The photo is registered either way; the crawls will find new copies.
        return Registration(photo.pk, label, len(variants), None, str(exc))
    return Registration(photo.pk, label, len(variants), retro)


def run_retro_match(
    photo: ClientPhoto, extra: Sequence[PdqHash] = (), parts: Sequence[PdqHash] = ()
) -> RetroMatch:
    """Crawled images against the photo's stored hashes and ``extra`` ones, and its pieces
    against crawled images' pieces (both computed at registration, while the photo was in
    memory: a later run, e.g. after a clean-up, has the stored hashes only)."""
    es_url, prefix = settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    hits = HitStore(es_url, prefix, timeout_s=settings.BODYGUARD_ES_TIMEOUT_S)
    images = ImageStore.connect(es_url, prefix, timeout_s=settings.BODYGUARD_ES_TIMEOUT_S)
    try:
        hits.ensure_index()
        return retro_match(
            images,
            hits,
            photo.client.reference,
            photo.label,
            [*(PdqHash.from_hex(h) for h in photo.pdq_hashes), *extra],
            parts,
        )
    finally:
        hits.close()
        images.close()
