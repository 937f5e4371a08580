"""Photos and videos hashed on her device: the page, its scripts, and the route that takes the
hashes (never a picture).

The browser decodes what she picks and computes what the server's registration would
(portal/static/portal/pdq.js: the PDQ registration variants of matching.images with the same
geometry and quality; for a video the frames' PDQ hashes at the registration sampling times,
mirrored too, and the file's MD5). Only JSON hashes and her label are sent. This route refuses
a file part, a body over MAX_BODY_BYTES, an unknown field, a malformed hash, then stores the
photo or video as staff registration does and runs the same retro-match.

A photo also brings the hashes matching.images.retro_query_hashes gives (one-sided crops, the
square centre, small rotations): looked up once among crawled images, never stored, as at
staff registration.

Not computed on the device: the photo's local features (SIFT; no maintained OpenCV build on
npm includes SIFT, and its embind glue needs 'unsafe-eval'), so a photo registered here is
matched by its PDQ variants only; a video's extra frames at scene changes and
its variants without static edges (its frames on the registration grid, 4 a second, and their
mirrors are computed).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from clients.models import Client, ClientPhoto, ClientVideo, Consent
from clients.photos import run_retro_match as run_photo_retro_match
from clients.videos import LABEL_MAX
from clients.videos import run_retro_match as run_video_retro_match
from config.environment import BASE_DIR
from config.middleware import CONTENT_SECURITY_POLICY
from hits.errors import HitStoreError
from matching.hashes import PdqHash
from matching.videos import MAX_DURATION_S, MAX_SAMPLED_FRAMES, REGISTRATION_DENSITY
from portal.mandates import has_consent, record_consent
from portal.views import page, signed_in
from takedowns.access import client_address
from takedowns.services import audit

# A photo's hashes and a label are ~2 KB of JSON; a 20-minute video's, at the registration
# density, ~450 KB. Anything beyond is not hashes.
MAX_BODY_BYTES = 768 * 1024
MAX_PHOTO_BODY_BYTES = 64 * 1024
# matching.images.registration_hashes gives at most 24 (8 dihedral, 8 crops each mirrored).
MAX_PHOTO_HASHES = 32
MAX_VIDEO_FRAMES = MAX_SAMPLED_FRAMES * REGISTRATION_DENSITY
MAX_VARIANTS_PER_FRAME = 2
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
PHOTO_FIELDS = {"kind", "label", "hashes", "retro_hashes", "quality", "consent"}
# matching.images.retro_query_hashes gives at most 15 (8 side crops, a square, 6 rotations).
MAX_RETRO_HASHES = 16
VIDEO_FIELDS = {"kind", "label", "md5", "duration_s", "frames", "variants", "consent"}

SCRIPTS = {
    "pdq.js": BASE_DIR / "portal" / "static" / "portal" / "pdq.js",
    "md5.js": BASE_DIR / "portal" / "static" / "portal" / "md5.js",
    "empreintes.js": BASE_DIR / "portal" / "static" / "portal" / "empreintes.js",
}


class Refused(ValueError):
    """The request is not a registration of hashes; ``status`` is the HTTP answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.status = status


def _label(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused("label: a short neutral name is needed")
    label = " ".join(value.split())
    if len(label) > LABEL_MAX:
        raise Refused(f"label: at most {LABEL_MAX} characters")
    return label


def _quality(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise Refused("quality: an integer from 0 to 100")
    return value


def _pdq(value: object) -> str:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise Refused("hash: 64 lowercase hexadecimal digits")
    return value


def _frames(value: object, most: int, duration: float) -> list[list[object]]:
    if not isinstance(value, list) or len(value) > most:
        raise Refused(f"frames: a list of at most {most} [seconds, hash, quality]")
    rows: list[list[object]] = []
    for row in value:
        if not isinstance(row, list) or len(row) != 3:
            raise Refused("frames: each is [seconds, hash, quality]")
        at, pdq, quality = row
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
            raise Refused("frames: seconds must be a number")
        if not 0 <= at <= duration + 1:
            raise Refused("frames: seconds beyond the video's duration")
        rows.append([round(float(at), 3), _pdq(pdq), _quality(quality)])
    return rows


def parse(request: HttpRequest) -> dict[str, Any]:
    """The registration in the request, validated, or Refused."""
    content_type = request.content_type or ""
    if content_type != "application/json" or request.FILES:
        raise Refused("only JSON hashes are accepted here, never a file", 415)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > MAX_BODY_BYTES:
        raise Refused("the request is larger than hashes can be", 413)
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise Refused("the request is larger than hashes can be", 413)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused("not JSON") from None
    if not isinstance(data, dict):
        raise Refused("not a JSON object")
    consent = data.get("consent", False)
    if not isinstance(consent, bool):
        raise Refused("consent: true or false")
    if data.get("kind") == "photo":
        if len(body) > MAX_PHOTO_BODY_BYTES:
            raise Refused("the request is larger than a photo's hashes can be", 413)
        if set(data) - PHOTO_FIELDS:
            raise Refused(f"unknown fields: {sorted(set(data) - PHOTO_FIELDS)}")
        hashes = data.get("hashes")
        if not isinstance(hashes, list) or not 1 <= len(hashes) <= MAX_PHOTO_HASHES:
            raise Refused(f"hashes: a list of 1 to {MAX_PHOTO_HASHES} PDQ hashes")
        retro = data.get("retro_hashes", [])
        if not isinstance(retro, list) or len(retro) > MAX_RETRO_HASHES:
            raise Refused(f"retro_hashes: a list of at most {MAX_RETRO_HASHES} PDQ hashes")
        return {
            "kind": "photo",
            "label": _label(data.get("label")),
            "hashes": list(dict.fromkeys(_pdq(h) for h in hashes)),
            # Looked up once among crawled images (as at staff registration), never stored.
            "retro_hashes": list(dict.fromkeys(_pdq(h) for h in retro)),
            "quality": _quality(data.get("quality")),
            "consent": consent,
        }
    if data.get("kind") == "video":
        if set(data) - VIDEO_FIELDS:
            raise Refused(f"unknown fields: {sorted(set(data) - VIDEO_FIELDS)}")
        md5 = data.get("md5")
        if not isinstance(md5, str) or not _HEX32.fullmatch(md5):
            raise Refused("md5: 32 lowercase hexadecimal digits")
        duration = data.get("duration_s")
        if isinstance(duration, bool) or not isinstance(duration, (int, float)):
            raise Refused("duration_s: a number of seconds")
        if not (math.isfinite(duration) and 0 < duration <= MAX_DURATION_S):
            raise Refused(f"duration_s: more than 0 and at most {MAX_DURATION_S}")
        frames = _frames(data.get("frames"), MAX_VIDEO_FRAMES, duration)
        if not frames:
            raise Refused("frames: at least one")
        variants = _frames(
            data.get("variants", []), MAX_VIDEO_FRAMES * MAX_VARIANTS_PER_FRAME, duration
        )
        return {
            "kind": "video",
            "label": _label(data.get("label")),
            "md5": md5,
            "duration_s": round(float(duration), 3),
            "frames": frames,
            "variants": variants,
            "consent": consent,
        }
    raise Refused("kind: photo or video")


def register(client: Client, data: dict[str, Any], ip: str | None) -> dict[str, Any]:
    """Store the hashes as staff registration does, retro-match, audit. Returns the answer."""
    who = f"client:{client.reference}"
    with transaction.atomic():
        if data["consent"] and not has_consent(client, Consent.Use.MONITORING):
            record_consent(client, Consent.Use.MONITORING, True, ip=ip)
        if data["kind"] == "photo":
            photo, _ = ClientPhoto.objects.update_or_create(
                client=client,
                label=data["label"],
                defaults={
                    "pdq_hashes": data["hashes"],
                    "quality": data["quality"],
                    # Local features are not computed on the device: PDQ matching only.
                    "sealed_features": None,
                },
            )
            audit(
                who,
                "photo_registered_on_device",
                who,
                f"{data['label']}: {len(data['hashes'])} PDQ hashes, quality {data['quality']}",
            )
        else:
            video, _ = ClientVideo.objects.update_or_create(
                client=client,
                label=data["label"],
                defaults={
                    "md5": data["md5"],
                    "frame_hashes": data["frames"],
                    "variant_hashes": data["variants"],
                    "duration_s": data["duration_s"],
                },
            )
            audit(
                who,
                "video_registered_on_device",
                who,
                f"{data['label']}: {len(data['frames'])} frames, "
                f"{len(data['variants'])} variants, {data['duration_s']} s",
            )
    answer: dict[str, Any] = {"registered": True, "label": data["label"], "found": 0}
    try:
        if data["kind"] == "photo":
            extra = [PdqHash.from_hex(h) for h in data["retro_hashes"]]
            answer["found"] = run_photo_retro_match(photo, extra).hits_created
        else:
            answer["found"] = run_video_retro_match(video).hits_created
    except HitStoreError:
        # Registered either way; the crawls will find new copies.
        answer["retro_error"] = True
    return answer


@signed_in
def fingerprints(request: HttpRequest) -> HttpResponse:
    client: Client = request.portal_client  # type: ignore[attr-defined]
    response = page(
        request,
        "portal/fingerprints.html",
        {
            "consented": has_consent(client, Consent.Use.MONITORING),
            "photos": client.photos.count(),
            "videos": client.videos.count(),
        },
    )
    # Videos are read from the file she picked through a blob: URL; this page only.
    response["Content-Security-Policy"] = f"{CONTENT_SECURITY_POLICY}; media-src 'self' blob:"
    return response


@require_POST
@signed_in
def fingerprints_submit(request: HttpRequest) -> HttpResponse:
    client: Client = request.portal_client  # type: ignore[attr-defined]
    try:
        data = parse(request)
    except Refused as refused:
        audit(
            f"client:{client.reference}", "on_device_refused", f"client:{client.reference}",
            str(refused),
        )  # fmt: skip
        return JsonResponse({"registered": False, "error": str(refused)}, status=refused.status)
    if not data["consent"] and not has_consent(client, Consent.Use.MONITORING):
        return JsonResponse(
            {"registered": False, "error": "consent to monitoring is needed"}, status=409
        )
    return JsonResponse(register(client, data, client_address(request)))


@require_GET
def script(request: HttpRequest, name: str) -> HttpResponse:
    """The page's scripts, from our own origin (no CDN, no inline script)."""
    path = SCRIPTS.get(name)
    if path is None:
        raise Http404(name)
    response = HttpResponse(
        path.read_text(encoding="utf-8"), content_type="text/javascript; charset=utf-8"
    )
    response["Cache-Control"] = "public, max-age=3600"
    return response
