"""Registering a client video: hashed in memory, hashes kept, video forgotten, past videos checked.

As for photos (clients.photos): the bytes are fingerprinted where they are (matching.videos
decodes from a bytes buffer, nothing touches the disk), the file's MD5 and the sampled frames'
PDQ hashes are stored, and the bytes are dropped. Then the videos already crawled are searched
for it (retro-match).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum

import av
from django.conf import settings
from django.utils.translation import gettext, override

from clients.keys import features_key
from clients.models import Client, ClientVideo
from hits.errors import HitStoreError
from hits.store import HitStore
from hits.videos import VideoRetroMatch, VideoStore, retro_match_video
from matching.features import seal_many
from matching.videos import (
    KEYFRAME_EVERY_S,
    MAX_DURATION_S,
    MAX_KEYFRAMES,
    MAX_VIDEO_BYTES,
    FrameHash,
    VideoError,
    fingerprint_video,
    registration_keyframes,
    video_stills,
)

LABEL_MAX = ClientVideo._meta.get_field("label").max_length or 200


class Fix(StrEnum):
    """What staff can do about a video that was not registered."""

    FILE = "file"
    LABEL = "label"
    PHOTO = "photo"


def fix_text(fix: Fix) -> str:
    """In the active language (the admin's); the exception's own text is in English."""
    if fix is Fix.LABEL:
        return gettext("give a short neutral label, such as 'video 1'")
    if fix is Fix.PHOTO:
        return gettext("register it as a photo")
    return gettext(
        "register the original video file (MP4, WebM, MOV, MKV...) of at most %(mb)s MB and "
        "%(minutes)s minutes; cut a longer video into parts and register each"
    ) % {"mb": MAX_VIDEO_BYTES // (1024 * 1024), "minutes": MAX_DURATION_S // 60}


class VideoRegistrationError(ValueError):
    """A video that was not registered: which client, which label, why, and what to do."""

    def __init__(self, client_ref: str, label: str, reason: str, fix: Fix = Fix.FILE):
        self.client_ref, self.label, self.reason, self.fix = client_ref, label, reason, fix
        with override("en"):
            how = fix_text(fix)
        super().__init__(
            f"video {label[:60]!r} of {client_ref} not registered: {reason}. To fix: {how}"
        )


@dataclass(frozen=True)
class VideoRegistration:
    video_id: int
    label: str
    md5: str
    frames: int
    variants: int
    duration_s: float
    # What the retro-match found (hits.videos), None when it did not run.
    retro: VideoRetroMatch | None
    retro_error: str = ""


def check_label(client: Client, label: str) -> str:
    label = (label or "").strip()
    if not label:
        raise VideoRegistrationError(client.reference, "", "the label is empty", Fix.LABEL)
    if len(label) > LABEL_MAX:
        raise VideoRegistrationError(
            client.reference, label, f"the label is longer than {LABEL_MAX} characters", Fix.LABEL
        )
    return label


def still_image_format(data: bytes) -> str:
    """The format of a still image FFmpeg would read as a one-frame video (a JPEG, a PNG),
    "" otherwise. An animated GIF is a video (the "gifv" of social networks)."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            name = str(container.format.name)
    except (av.error.FFmpegError, TypeError, ValueError):
        return ""  # fingerprint_video says what is wrong with it
    return name if name.endswith("_pipe") or name == "image2" else ""


def register_video(client: Client, label: str, data: bytes) -> VideoRegistration:
    """Fingerprint ``data`` (never written anywhere), store the hashes, retro-match crawled
    videos. Registering again under the same label replaces that video's hashes."""
    label = check_label(client, label)
    still = still_image_format(data)
    if still:
        raise VideoRegistrationError(
            client.reference, label, f"this is a still image ({still}), not a video", Fix.PHOTO
        )
    try:
        fingerprint = fingerprint_video(data, registration=True)
        stills = video_stills(data, KEYFRAME_EVERY_S, MAX_KEYFRAMES)
    except VideoError as exc:
        raise VideoRegistrationError(client.reference, label, str(exc)) from None
    # Sealed before anything is stored: the clear features only ever live in this frame.
    sealed = seal_many(registration_keyframes(stills), features_key())
    # The bytes and pictures are not needed any more: only the fingerprint goes on.
    del data, stills
    video, _ = ClientVideo.objects.update_or_create(
        client=client,
        label=label,
        defaults={
            "md5": fingerprint.md5,
            "frame_hashes": [f.to_row() for f in fingerprint.frames],
            "variant_hashes": [f.to_row() for f in fingerprint.variants],
            "duration_s": round(fingerprint.duration, 3),
            "sealed_features": sealed,
        },
    )
    registration = VideoRegistration(
        video.pk,
        label,
        fingerprint.md5,
        len(fingerprint.frames),
        len(fingerprint.variants),
        video.duration_s,
        None,
    )
    try:
        retro = run_retro_match(video)
    except HitStoreError as exc:
        # The video is registered either way; the crawls will find new copies.
        return _with(registration, None, str(exc))
    return _with(registration, retro, "")


def _with(
    registration: VideoRegistration, retro: VideoRetroMatch | None, error: str
) -> VideoRegistration:
    return VideoRegistration(**{**registration.__dict__, "retro": retro, "retro_error": error})


def frame_hashes(video: ClientVideo, variants: bool = True) -> list[FrameHash]:
    rows = [*video.frame_hashes, *(video.variant_hashes if variants else [])]
    return [FrameHash.from_row(row) for row in rows]


def run_retro_match(video: ClientVideo) -> VideoRetroMatch:
    """The videos already crawled against this registered video's MD5 and frame hashes
    (variants included), as a crawl would match them (hits.videos)."""
    es_url, prefix = settings.BODYGUARD_ELASTICSEARCH_URL, settings.BODYGUARD_INDEX_PREFIX
    hits = HitStore(es_url, prefix, timeout_s=settings.BODYGUARD_ES_TIMEOUT_S)
    videos = VideoStore.connect(es_url, prefix, timeout_s=settings.BODYGUARD_ES_TIMEOUT_S)
    try:
        hits.ensure_index()
        return retro_match_video(
            videos, hits, video.client.reference, video.label, video.md5, frame_hashes(video)
        )
    finally:
        hits.close()
        videos.close()
