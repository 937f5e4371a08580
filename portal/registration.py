"""Photos and videos hashed on her device: the page, its scripts, and the route that takes the
hashes (never a picture).

The browser decodes what she picks and computes what the server's registration would
(portal/static/portal/pdq.js: the PDQ registration variants of matching.images with the same
geometry and quality; portal/static/portal/sift.js: the local features of
matching.features.registration_features, a port of OpenCV's SIFT with Pillow's "L" conversion
and BILINEAR resizing; for a video, portal/static/portal/video.js: what
clients.videos.register_video stores, below). Only JSON hashes, features and her label are sent. This
route refuses a file part, a body over MAX_BODY_BYTES, an unknown field, a malformed hash or
malformed features, then stores the photo or video as staff registration does (the features
sealed with the features key, never kept in clear) and runs the same retro-match.

A photo's features are ``{"width", "height", "points", "descriptors"}``: the size of the image
SIFT saw (at most REGISTER_SIDE a side), at most REGISTERED_FEATURES keypoint positions as
[x, y] inside it, and their descriptors as the base64 of 128 bytes each, every one a SIFT
descriptor (L2 norm near 512). They are as sensitive as the stored ones (keypoints with
positions can be inverted into a rough picture): they travel over the portal's HTTPS, are
never logged, and are sealed before anything is stored (docs/adr/0025-sift-on-device.md). A photo sent without them (a page cached before this
change) is matched by its PDQ variants only, as before.

A photo also brings the hashes matching.images.retro_query_hashes gives (one-sided crops, the
square centre, small rotations) and its pieces (matching.images.retro_part_hashes: quadrants,
halves, centre, compared with crawled images' pieces): looked up once among crawled images,
never stored, as at staff registration.

A video (portal/static/portal/video.js) brings what clients.videos.register_video stores:
its MD5, its frames at the registration sampling (the time grid and scene changes), their
variants (mirrored; trimmed of static edges and trimmed mirrored when the video has them), and
its keyframes' local features as ``keyframes: [[tag, features], ...]`` (a still every
KEYFRAME_EVERY_S, plain "12.00" and mirrored "12.00m", each checked as a photo's features),
sealed together with seal_many as ClientVideo.sealed_features is at staff registration, so that
the crawl's second stage (matching.videos.match_stills) finds cropped copies. A video sent
without keyframes (a page cached before this change) is matched by its frames only.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any

import numpy as np
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from clients.keys import features_key
from clients.models import Client, ClientPhoto, ClientVideo, Consent
from clients.photos import run_retro_match as run_photo_retro_match
from clients.videos import LABEL_MAX
from clients.videos import run_retro_match as run_video_retro_match
from config.environment import BASE_DIR
from config.middleware import CONTENT_SECURITY_POLICY
from hits.errors import HitStoreError
from matching.features import (
    DESCRIPTOR_SIZE,
    REGISTER_SIDE,
    REGISTERED_FEATURES,
    LocalFeatures,
    seal,
    seal_many,
)
from matching.hashes import PdqHash
from matching.images import PART_BOXES
from matching.videos import MAX_DURATION_S, MAX_KEYFRAMES, MAX_SAMPLED_FRAMES, REGISTRATION_DENSITY
from portal.mandates import has_consent, record_consent
from portal.views import page, signed_in
from takedowns.access import client_address
from takedowns.services import audit

# A photo's hashes, features and label are ~22 KB of JSON. A 20-minute video's frames at the
# registration density with their three variants are ~0.8 MB, and its 60 keyframes' features,
# plain and mirrored, ~21 KB each: ~3.4 MB at most. Anything beyond is not hashes.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_PHOTO_BODY_BYTES = 64 * 1024
# matching.images.registration_hashes gives at most 24 (8 dihedral, 8 crops each mirrored).
MAX_PHOTO_HASHES = 32
MAX_VIDEO_FRAMES = MAX_SAMPLED_FRAMES * REGISTRATION_DENSITY
# matching.videos.fingerprint_video at registration: mirrored, and when the video has static
# edges, trimmed and trimmed mirrored.
MAX_VARIANTS_PER_FRAME = 3
# matching.videos.registration_keyframes of video_stills(data, KEYFRAME_EVERY_S, MAX_KEYFRAMES):
# each keyframe plain ("12.00", its time) and mirrored ("12.00m").
MAX_VIDEO_KEYFRAMES = 2 * MAX_KEYFRAMES
_KEYFRAME_TAG = re.compile(r"(\d{1,4}\.\d\d)(m?)")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
PHOTO_FIELDS = {
    "kind", "label", "hashes", "retro_hashes", "retro_parts", "quality", "consent", "features",
}  # fmt: skip
FEATURE_FIELDS = {"width", "height", "points", "descriptors"}
# SIFT descriptors are normalised to 512 before rounding to bytes (128 roundings move the norm by
# at most 5.7); measured 510.5-513.5 over 6,198 descriptors of 66 real photos. Anything else is
# not a SIFT descriptor.
DESCRIPTOR_NORM = (480.0, 520.0)
MAX_DESCRIPTOR_CHARS = 4 * math.ceil(REGISTERED_FEATURES * DESCRIPTOR_SIZE / 3)
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# matching.images.retro_query_hashes gives at most 15 (8 side crops, a square, 6 rotations).
MAX_RETRO_HASHES = 16
VIDEO_FIELDS = {"kind", "label", "md5", "duration_s", "frames", "variants", "keyframes", "consent"}

SCRIPTS = {
    "pdq.js": BASE_DIR / "portal" / "static" / "portal" / "pdq.js",
    "sift.js": BASE_DIR / "portal" / "static" / "portal" / "sift.js",
    "md5.js": BASE_DIR / "portal" / "static" / "portal" / "md5.js",
    "video.js": BASE_DIR / "portal" / "static" / "portal" / "video.js",
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


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _features(value: object, field: str = "features") -> LocalFeatures:
    """A photo's (or a video keyframe's) SIFT features as sift.js sends them, checked field by
    field; ``field`` names them in the refusal."""
    try:
        return _checked_features(value)
    except Refused as refused:
        if field == "features":
            raise
        raise Refused(f"{field}{str(refused).removeprefix('features')}") from None


def _checked_features(value: object) -> LocalFeatures:
    if not isinstance(value, dict) or set(value) != FEATURE_FIELDS:
        raise Refused(f"features: an object with exactly {sorted(FEATURE_FIELDS)}")
    width, height = value["width"], value["height"]
    for name, side in (("width", width), ("height", height)):
        if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= REGISTER_SIDE:
            raise Refused(f"features: {name} is the analysed image's, 1 to {REGISTER_SIDE} pixels")
    points = value["points"]
    if not isinstance(points, list) or len(points) > REGISTERED_FEATURES:
        raise Refused(f"features: points is a list of at most {REGISTERED_FEATURES} [x, y]")
    for point in points:
        if not isinstance(point, list) or len(point) != 2 or not all(map(_number, point)):
            raise Refused("features: each point is [x, y], two numbers")
        if not (0 <= point[0] <= width and 0 <= point[1] <= height):
            raise Refused("features: a point lies outside the analysed image")
    text = value["descriptors"]
    if not isinstance(text, str) or len(text) > MAX_DESCRIPTOR_CHARS or not _BASE64.fullmatch(text):
        raise Refused("features: descriptors is base64 (RFC 4648, no line breaks)")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("features: descriptors is base64 (RFC 4648, no line breaks)") from None
    if len(raw) != len(points) * DESCRIPTOR_SIZE:
        raise Refused(
            f"features: {len(raw)} descriptor bytes for {len(points)} points, "
            f"expected {DESCRIPTOR_SIZE} a point"
        )
    descriptors = np.frombuffer(raw, np.uint8).reshape(-1, DESCRIPTOR_SIZE).copy()
    norms = np.linalg.norm(descriptors.astype(np.float32), axis=1)
    if len(norms) and not (
        (norms >= DESCRIPTOR_NORM[0]).all() and (norms <= DESCRIPTOR_NORM[1]).all()
    ):
        raise Refused("features: a descriptor is not a SIFT descriptor (L2 norm near 512)")
    return LocalFeatures(
        np.array(points, dtype=np.float32).reshape(-1, 2), descriptors, width, height
    )


def _frames(value: object, most: int, duration: float, field: str = "frames") -> list[list[object]]:
    if not isinstance(value, list) or len(value) > most:
        raise Refused(f"{field}: a list of at most {most} [seconds, hash, quality]")
    rows: list[list[object]] = []
    for row in value:
        if not isinstance(row, list) or len(row) != 3:
            raise Refused(f"{field}: each is [seconds, hash, quality]")
        at, pdq, quality = row
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at):
            raise Refused(f"{field}: seconds must be a number")
        if not 0 <= at <= duration + 1:
            raise Refused(f"{field}: seconds beyond the video's duration")
        rows.append([round(float(at), 3), _pdq(pdq), _quality(quality)])
    return rows


def _keyframes(value: object, duration: float) -> list[tuple[str, LocalFeatures]]:
    """A video's keyframe features as video.js sends them: [[tag, features], ...], the tag
    "%.2f" of the keyframe's time, "m" after it for the mirrored still, as
    matching.videos.registration_keyframes names them."""
    if not isinstance(value, list) or len(value) > MAX_VIDEO_KEYFRAMES:
        raise Refused(f"keyframes: a list of at most {MAX_VIDEO_KEYFRAMES} [tag, features]")
    keyframes: list[tuple[str, LocalFeatures]] = []
    for index, item in enumerate(value):
        if not isinstance(item, list) or len(item) != 2:
            raise Refused(f"keyframes[{index}]: [tag, features]")
        tag, features = item
        found = _KEYFRAME_TAG.fullmatch(tag) if isinstance(tag, str) else None
        if found is None:
            raise Refused(
                f"keyframes[{index}]: the tag is the keyframe's seconds as '12.00' or '12.00m'"
            )
        if float(found.group(1)) > duration + 1:
            raise Refused(f"keyframes[{index}]: the tag is beyond the video's duration")
        keyframes.append((tag, _features(features, f"keyframes[{index}] features")))
    tags = [tag for tag, _ in keyframes]
    if len(set(tags)) != len(tags):
        raise Refused("keyframes: each tag once")
    return keyframes


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
        parts = data.get("retro_parts", [])
        if not isinstance(parts, list) or len(parts) > len(PART_BOXES):
            raise Refused(f"retro_parts: a list of at most {len(PART_BOXES)} PDQ hashes")
        return {
            "kind": "photo",
            "label": _label(data.get("label")),
            "hashes": list(dict.fromkeys(_pdq(h) for h in hashes)),
            # Looked up once among crawled images (as at staff registration), never stored.
            "retro_hashes": list(dict.fromkeys(_pdq(h) for h in retro)),
            "retro_parts": list(dict.fromkeys(_pdq(h) for h in parts)),
            "quality": _quality(data.get("quality")),
            # Optional: a page cached before features were computed on the device sends none.
            "features": _features(data["features"]) if "features" in data else None,
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
            data.get("variants", []),
            MAX_VIDEO_FRAMES * MAX_VARIANTS_PER_FRAME,
            duration,
            "variants",
        )
        return {
            "kind": "video",
            "label": _label(data.get("label")),
            "md5": md5,
            "duration_s": round(float(duration), 3),
            "frames": frames,
            "variants": variants,
            # Optional: a page cached before keyframes were computed on the device sends none.
            "keyframes": _keyframes(data.get("keyframes", []), duration),
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
            features: LocalFeatures | None = data["features"]
            # Sealed before anything is stored, as clients.photos.register_photo does.
            sealed = seal(features, features_key()) if features is not None else None
            photo, _ = ClientPhoto.objects.update_or_create(
                client=client,
                label=data["label"],
                defaults={
                    "pdq_hashes": data["hashes"],
                    "quality": data["quality"],
                    "sealed_features": sealed,
                },
            )
            audit(
                who,
                "photo_registered_on_device",
                who,
                f"{data['label']}: {len(data['hashes'])} PDQ hashes, quality {data['quality']}, "
                f"{len(features) if features is not None else 'no'} local features",
            )
        else:
            keyframes: list[tuple[str, LocalFeatures]] = data["keyframes"]
            # Sealed before anything is stored, as clients.videos.register_video does.
            sealed_many = seal_many(keyframes, features_key()) if keyframes else None
            video, _ = ClientVideo.objects.update_or_create(
                client=client,
                label=data["label"],
                defaults={
                    "md5": data["md5"],
                    "frame_hashes": data["frames"],
                    "variant_hashes": data["variants"],
                    "duration_s": data["duration_s"],
                    "sealed_features": sealed_many,
                },
            )
            audit(
                who,
                "video_registered_on_device",
                who,
                f"{data['label']}: {len(data['frames'])} frames, "
                f"{len(data['variants'])} variants, {len(keyframes)} keyframes' local features, "
                f"{data['duration_s']} s",
            )
    answer: dict[str, Any] = {"registered": True, "label": data["label"], "found": 0}
    try:
        if data["kind"] == "photo":
            extra = [PdqHash.from_hex(h) for h in data["retro_hashes"]]
            parts = [PdqHash.from_hex(h) for h in data["retro_parts"]]
            answer["found"] = run_photo_retro_match(photo, extra, parts).hits_created
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
