"""Fingerprints of videos and their matching: bytes in, frame hashes and matches out.

A video is decoded in memory (PyAV, FFmpeg's libraries, from a bytes buffer: nothing touches the
disk), sampled (one frame per second, at least MIN_SAMPLES frames for short clips, four per
second at registration; and the first frame of every new scene) and each sampled frame hashed
with PDQ, with its quality, as Meta's vPDQ does. The file's MD5 is kept too: it is
the value StopNCII and partner hash lists exchange as ``VideoMD5``.

Matching, in the spirit of vPDQ: an identical file by MD5 first; otherwise the crawled clip's
frames are looked up among the registered frames (PDQ distance <= 31, quality >= 50 on both
sides), and a clip matches a registered video when enough of its frames agree *at one time
offset* (a re-post is an excerpt, re-encoded, resized, captioned or mirrored; it is not
re-edited frame by frame). The time ranges that matched are kept for reviewers. Crops of more
than a few percent are beyond PDQ (see REGISTRATION_DENSITY's neighbours and `make eval`): for
those, a second stage (:func:`match_video`) compares the SIFT local features (matching.features,
as for photos) of a few stills of the crawled clip with registered keyframes, sealed at rest.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import cast

import av
import numpy as np
import pdqhash
from PIL import Image

from matching.features import (
    FeatureIndex,
    FeatureTier,
    LocalFeatures,
    query_features,
    registration_features,
)
from matching.hashes import PdqHash
from matching.photos import MIN_QUALITY, chunk_index, rows_near

# Limits checked before or while decoding, each with its own error: a sextortion clip is a few
# minutes of phone video; anything far beyond is an accident or a decoding bomb.
MAX_VIDEO_BYTES = 300 * 1024 * 1024
MAX_DURATION_S = 20 * 60
MAX_DECODED_FRAMES = 20 * 60 * 60  # 20 minutes at 60 frames per second
MAX_FRAME_PIXELS = 4096 * 2304
# A file whose frames stop this long before the duration its container declares is truncated
# (a download cut short, a broken upload): refused rather than matched on what is left, since
# its fingerprint would claim the whole length. Audio tracks outlasting the picture by a second
# or two are common, hence the slack.
TRUNCATED_SLACK_S = 2.0
TRUNCATED_SLACK = 0.1
# Crawled videos: one sampled frame per second; longer videos are sampled more sparsely so that
# no crawled video holds more than MAX_SAMPLED_FRAMES hashes (10 minutes at one per second).
SAMPLE_EVERY_S = 1.0
MAX_SAMPLED_FRAMES = 600
# Short videos are sampled more densely, so that a clip of one or two seconds still gives this
# many frames (MIN_ALIGNED_FRAMES must be reachable: a 1-second clip gave one frame at 1/s).
MIN_SAMPLES = 5
# Registration samples this many times as often as a crawl (every 0.25 s), so that whatever
# second a re-post starts at, each of its sampled frames lies within 0.125 s of a registered
# one. Big Buck Bunny's frames (a moving camera) are within PDQ 31 of the frame 0.125 s away
# 84% of the time, of the frame 0.5 s away 48%, 1 s away 27%. `make eval` (seeds 20261204 and
# 777, with MIN_SAMPLES and the offset vote below): 5-second excerpts 83% -> 100% and re-posts
# (excerpt + resize + re-encode + frame rate) 33% -> 83% and 100%, at one per second -> four.
# Registration is rare and costs 1.3x a crawl's CPU; the index holds 4x the frames.
REGISTRATION_DENSITY = 4
# A new scene: the mean absolute difference of two consecutive frames' 32x32 grey thumbnails,
# on 0-255. Hard cuts of Big Buck Bunny measure 40-90, motion within a shot 2-15.
SCENE_CHANGE = 30.0
# Scene-change frames closer than this to the previous sample add nothing.
MIN_SAMPLE_GAP_S = 0.25
# Frames are hashed from at most this many pixels a side: PDQ reduces to 64x64 anyway.
HASH_INPUT_MAX = 256
# Rows or columns at the edges whose grey level varies less than this over time (standard
# deviation, 0-255) are a static overlay (a caption band, a letterbox, a frame); the frames are
# also hashed without them. Moving picture measures 20-60 at its edges.
STATIC_EDGE_STD = 3.0
# ... or less than this share of the median row's (or column's) variation, whichever is lower:
# in a calm scene (Big Buck Bunny 16-22 s, the bunny asleep) the picture's own edges measure
# 0.9-2 and were trimmed with the band, while caption bands measure 0.0-0.4 (re-encoded text)
# against a median row of 10.
STATIC_EDGE_SHARE = 0.1
# Static edges are trimmed only when they leave at least this share of each side.
MIN_KEPT_SIDE = 0.5
# Registration hashes each sampled frame mirrored too (re-posters flip videos to dodge
# matching). Centre crops (6% and 12% a side) were hashed too, and dropped: PDQ holds within 31
# of a frame cropped by 1% a side, or 2% on one side only (median 36 at 2% a side, 52 at 3%, on
# Big Buck Bunny), so they only caught crops within 1% of theirs; `make eval`'s crops drawn at
# 5-15% per axis, off-centre, were missed with them exactly as without (0/8 and 0/8, seed
# 20261204), and they doubled the index.

# Frame-level matching, measured by `make eval` (bench/eval_videos.py) on shared/realdata/video:
# PDQ distance at most 31 between frames of quality >= 50 (vPDQ's defaults). A clip matches when
# MIN_ALIGNED_FRAMES of its frames (or all of its usable frames, for clips shorter than that)
# agree with one registered video at one offset, within ALIGN_TOLERANCE_S. Measured (seeds
# 20261204 and 777, 62 positives and 68 negatives each): found copies align 3-31 frames (3: a
# 5-second re-post at 15 fps starting in the opening fade); no negative (the other clip and
# every copy of it, photo slideshows) aligned a single frame with a wrong video, so 3 keeps a
# wide margin while letting a 5-second excerpt through with two frames lost.
FRAME_MAX_DISTANCE = 31
MIN_ALIGNED_FRAMES = 3
# Pairs of frames within the radius lie off the true offset by 0.49 s (median), 1.38 s (90%),
# 1.61 s (95%): in a calm shot, frames a second apart look alike. The offset itself is the median
# of each frame's closest pair: within 0.18 s of where the eval's 23 found excerpts were cut
# (median error 0.05 s; the closest pair's time is 0.25 s apart at registration).
ALIGN_TOLERANCE_S = 1.5
# STRONG needs this many aligned frames; fewer is a CANDIDATE for a reviewer to confirm.
STRONG_ALIGNED_FRAMES = 5

# Second stage, for what PDQ cannot see (crops of 5-15%, off-centre): SIFT local features
# (matching.features, as for photos) of a few stills, looked up among registered keyframes.
# Registration: one keyframe every KEYFRAME_EVERY_S seconds, at most MAX_KEYFRAMES (longer videos
# are sampled more sparsely), each also mirrored (the eval's crop+mirror copies; SIFT is not
# mirror-invariant). `make eval` (seeds 20261204 and 777, 62 positives and 68 negatives each):
# cropped 0/8 -> 8/8, crop+mirror?+caption+resize 0/8 -> 8/8 (6 STRONG of each 8), no false
# positive. A crawled video PDQ missed costs 0.05-0.35 s of CPU to decode its stills and
# 0.1-0.25 s to match them (30 s 720p VP8; 8-10 s 270-360p H.264), against 0.15-0.6 s for its
# fingerprint. Keyframes without their mirrored twins were not measured.
KEYFRAME_EVERY_S = 2.0
MAX_KEYFRAMES = 60
# A crawled video with no PDQ/MD5 match: QUERY_STILLS stills spread evenly over the clip (at
# 20/40/60/80%); it matches a registered video when MIN_STILLS_MATCHING of them (all of them when
# fewer were decoded) find a keyframe of that video; STRONG when STRONG_STILLS of them do at the
# features' STRONG tier, else a CANDIDATE for a reviewer.
QUERY_STILLS = 4
MIN_STILLS_MATCHING = 2
STRONG_STILLS = 3
# Stills are decoded at most this many pixels a side (the features analyse 320).
STILL_SIDE = 320
# Separates a registered video's key from the keyframe's time in FeatureIndex labels.
KEYFRAME_SEP = "\x1e"


class VideoError(ValueError):
    """A video that cannot be fingerprinted, with the reason (limits, format, corruption)."""


class VideoTier(StrEnum):
    STRONG = "strong"
    CANDIDATE = "candidate"


class VideoMethod(StrEnum):
    MD5 = "md5"
    FRAMES = "frames"
    FEATURES = "features"


@dataclass(frozen=True, slots=True)
class FrameHash:
    at: float  # seconds from the start of the video
    pdq: PdqHash
    quality: int

    def to_row(self) -> list[object]:
        return [round(self.at, 3), self.pdq.hex(), self.quality]

    @classmethod
    def from_row(cls, row: Sequence[object]) -> FrameHash:
        at, pdq, quality = row
        return cls(float(str(at)), PdqHash.from_hex(str(pdq)), int(str(quality)))


@dataclass(frozen=True)
class VideoFingerprint:
    md5: str
    duration: float
    width: int
    height: int
    # One hash per sampled frame, in time order: the sequence exchanged and shown.
    frames: tuple[FrameHash, ...]
    # More hashes of the same frames (static edges trimmed; at registration also mirrored):
    # looked up like the frames, never shown.
    variants: tuple[FrameHash, ...] = ()

    @property
    def all_hashes(self) -> tuple[FrameHash, ...]:
        return (*self.frames, *self.variants)

    @property
    def usable(self) -> tuple[FrameHash, ...]:
        return tuple(f for f in self.frames if f.quality >= MIN_QUALITY)


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class _Sampled:
    at: float
    rgb: np.ndarray


# FFmpeg opens a photo as a one-frame video through these demuxers.
_STILL_FORMATS = {"image2", "mjpeg", "webp", "tiff"}


def _open(data: bytes) -> av.container.InputContainer:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise VideoError("video data must be bytes")
    if len(data) == 0:
        raise VideoError("empty video data")
    if len(data) > MAX_VIDEO_BYTES:
        raise VideoError(
            f"video of {len(data)} bytes is larger than the {MAX_VIDEO_BYTES}-byte limit"
        )
    try:
        container = av.open(io.BytesIO(bytes(data)), mode="r")
    except av.error.FFmpegError as exc:
        raise VideoError(
            f"not a video (unknown or unsupported format, or cut short): {exc}"
        ) from None
    if not container.streams.video:
        container.close()
        raise VideoError("no video stream in the file (audio only, or not a video)")
    if container.format.name in _STILL_FORMATS or container.format.name.endswith("_pipe"):
        name = container.format.name
        container.close()
        raise VideoError(f"not a video: a still image ({name}); photos are matched as photos")
    return container


def _checked_stream(
    container: av.container.InputContainer,
) -> tuple[av.video.stream.VideoStream, int, int, float]:
    """The video stream, its size and declared duration, once the limits are checked."""
    stream = container.streams.video[0]
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > MAX_FRAME_PIXELS:
        raise VideoError(
            f"video of {width}x{height} pixels exceeds the {MAX_FRAME_PIXELS}-pixel limit"
        )
    declared = (container.duration or 0) / 1_000_000
    if declared > MAX_DURATION_S:
        raise VideoError(f"video of {declared:.0f} s is longer than the {MAX_DURATION_S} s limit")
    return stream, width, height, declared


def _sample(data: bytes, registration: bool = False) -> tuple[list[_Sampled], float, int, int]:
    container = _open(data)
    try:
        stream, width, height, declared = _checked_stream(container)
        every, most = _sampling(declared, registration)
        scale = min(1.0, HASH_INPUT_MAX / max(width, height, 1))
        size_w, size_h = max(1, round(width * scale)), max(1, round(height * scale))
        samples: list[_Sampled] = []
        previous: np.ndarray | None = None
        next_at = 0.0
        last_at = -1.0
        at = 0.0
        for at, frame in _frames(container, stream):
            thumb = _thumbnail(frame)
            cut = previous is not None and float(np.abs(thumb - previous).mean()) > SCENE_CHANGE
            previous = thumb
            due = at >= next_at or (cut and at - last_at >= MIN_SAMPLE_GAP_S)
            if not due or len(samples) >= most:
                continue
            samples.append(
                _Sampled(at, frame.to_ndarray(format="rgb24", width=size_w, height=size_h))
            )
            last_at = at
            if at >= next_at:
                # On a fixed grid: a frame late by a fraction of a frame shifts no later one.
                next_at = (math.floor(at / every + 1e-6) + 1) * every
        if declared and at < declared - max(TRUNCATED_SLACK_S, TRUNCATED_SLACK * declared):
            raise VideoError(
                f"truncated or corrupt video: its frames stop at {at:.1f} s of the "
                f"{declared:.1f} s it declares"
            )
        duration = max(declared, at)
        return samples, duration, width, height
    except av.error.FFmpegError as exc:
        raise VideoError(f"truncated or corrupt video: {exc}") from None
    finally:
        container.close()


def _sampling(duration: float, registration: bool = False) -> tuple[float, int]:
    """Seconds between sampled frames, and the most frames sampled, for a video of
    ``duration`` seconds (0 when the container does not say)."""
    density = REGISTRATION_DENSITY if registration else 1
    most = MAX_SAMPLED_FRAMES * density
    every = SAMPLE_EVERY_S
    if duration:
        every = min(every, duration / MIN_SAMPLES)
        every = max(every, duration / MAX_SAMPLED_FRAMES)
    return every / density, most


# Pixel formats whose first plane is the 8-bit luma: the thumbnail is read from it directly.
_LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"}


def _thumbnail(frame: av.VideoFrame) -> np.ndarray:
    """32x32 grey thumbnail for scene changes. Read from the luma plane (every 4th pixel, then
    block means) when the format allows: asking swscale for it took half of a crawl's CPU."""
    if frame.format.name not in _LUMA_FIRST or frame.width < 128 or frame.height < 128:
        return frame.to_ndarray(format="gray", width=32, height=32).astype(np.float32)
    plane = frame.planes[0]
    # VideoPlane exposes the buffer protocol (no copy), which its stubs do not declare.
    luma = np.frombuffer(cast(memoryview, plane), np.uint8, count=plane.line_size * plane.height)
    luma = luma.reshape(plane.height, plane.line_size)[::4, : frame.width : 4]
    h, w = (luma.shape[0] // 32) * 32, (luma.shape[1] // 32) * 32
    blocks = luma[:h, :w].reshape(32, h // 32, 32, w // 32).astype(np.float32)
    return blocks.mean(axis=(1, 3))


def _frames(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> Iterator[tuple[float, av.VideoFrame]]:
    """(seconds, frame) of every decoded frame, within the frame and duration limits."""
    decoded = 0
    for packet in container.demux(stream):
        for frame in packet.decode():
            decoded += 1
            if decoded > MAX_DECODED_FRAMES:
                raise VideoError(f"video has more than {MAX_DECODED_FRAMES} frames")
            at = float(frame.time) if frame.time is not None else decoded / 25.0
            if at > MAX_DURATION_S:
                raise VideoError(f"video is longer than the {MAX_DURATION_S} s limit")
            yield at, frame


def _pdq(rgb: np.ndarray) -> tuple[PdqHash, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return PdqHash.from_bits(bits), int(quality)


def static_edges(frames: Sequence[np.ndarray]) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the moving picture, when the edges around it stay still
    over the whole video (caption bands, letterboxes, frames), else None."""
    if len(frames) < 3:
        return None
    grey = np.stack([f.mean(axis=2) for f in frames]).astype(np.float32)
    moving = grey.std(axis=0)  # per pixel, over time
    rows, cols = moving.mean(axis=1), moving.mean(axis=0)

    def span(profile: np.ndarray) -> tuple[int, int]:
        # A calm scene's own edges barely move either: "still" is judged against the motion
        # of the whole picture.
        still = min(STATIC_EDGE_STD, STATIC_EDGE_SHARE * float(np.median(profile)))
        live = np.flatnonzero(profile > still)
        if not len(live):
            return 0, len(profile)
        return int(live[0]), int(live[-1]) + 1

    top, bottom = span(rows)
    left, right = span(cols)
    h, w = moving.shape
    if (top, bottom, left, right) == (0, h, 0, w):
        return None
    if bottom - top < MIN_KEPT_SIDE * h or right - left < MIN_KEPT_SIDE * w:
        return None
    return top, bottom, left, right


def fingerprint_video(data: bytes, registration: bool = False) -> VideoFingerprint:
    """Hash ``data`` in memory. At registration frames are sampled REGISTRATION_DENSITY times
    as often and also hashed mirrored, since crawled copies are compared with those; crawled
    videos keep their plain frames (and the picture without its static edges)."""
    samples, duration, width, height = _sample(data, registration)
    if not samples:
        raise VideoError("no frame could be decoded from the video")
    frames: list[FrameHash] = []
    variants: list[FrameHash] = []
    edges = static_edges([s.rgb for s in samples])
    for sample in samples:
        pdq, quality = _pdq(sample.rgb)
        frames.append(FrameHash(sample.at, pdq, quality))
        pictures: list[np.ndarray] = []
        if registration:
            # The whole frame mirrored: mirroring only the trimmed picture (as first written)
            # made it a crop whenever the trim was spurious (the 1-second clip's top 4 rows
            # are still, and were cut), and a mirrored copy's plain frames missed it.
            pictures.append(sample.rgb[:, ::-1])
        if edges is not None:
            top, bottom, left, right = edges
            trimmed = sample.rgb[top:bottom, left:right]
            pictures.append(trimmed)
            if registration:
                # A mirrored copy's trimmed picture (its query trims the same still edges).
                pictures.append(trimmed[:, ::-1])
        for picture in pictures:
            variant, q = _pdq(picture)
            variants.append(FrameHash(sample.at, variant, q))
    return VideoFingerprint(md5_of(data), duration, width, height, tuple(frames), tuple(variants))


@dataclass(frozen=True)
class VideoMatch:
    video: str | None
    method: VideoMethod | None = None
    tier: VideoTier | None = None
    frames_matched: int = 0
    frames_compared: int = 0
    # (start, end) seconds of the crawled clip that matched, and where they are in the
    # registered video.
    ranges: tuple[tuple[float, float], ...] = ()
    registered_ranges: tuple[tuple[float, float], ...] = ()
    offset_s: float | None = None

    @property
    def why(self) -> str:
        """How it matched, for reviewers: never anything of the video itself."""
        if self.video is None:
            return ""
        if self.method is VideoMethod.MD5:
            return "identical file (MD5)"
        if self.method is VideoMethod.FEATURES:
            at = ", ".join(f"{a:.0f} s" for a, _ in self.ranges)
            return (
                f"local features: {self.frames_matched} of {self.frames_compared} stills match "
                f"keyframes of the registered video (SIFT, geometrically verified); clip at {at}"
            )
        spans = ", ".join(f"{a:.0f}-{b:.0f} s" for a, b in self.ranges)
        return (
            f"{self.frames_matched} of {self.frames_compared} sampled frames match at one "
            f"offset (PDQ <= {FRAME_MAX_DISTANCE}); clip {spans}"
        )


NO_VIDEO_MATCH = VideoMatch(None)


def _ranges(
    times: Iterable[float], gap: float = 2 * SAMPLE_EVERY_S + 0.5
) -> tuple[tuple[float, float], ...]:
    spans: list[list[float]] = []
    for t in sorted(times):
        if spans and t - spans[-1][1] <= gap:
            spans[-1][1] = t
        else:
            spans.append([t, t])
    return tuple((round(a, 2), round(b, 2)) for a, b in spans)


@dataclass
class _Registered:
    label: str
    md5: str


@dataclass
class VideoIndex:
    """Every registered video's frame hashes (and MD5), labelled by video."""

    _videos: list[_Registered] = field(default_factory=list)
    _by_md5: dict[str, int] = field(default_factory=dict)
    _pending: list[tuple[int, FrameHash]] = field(default_factory=list)
    _video_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    _at: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    _words: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), dtype=np.uint64))
    _order: np.ndarray = field(default_factory=lambda: np.zeros((16, 0), dtype=np.int32))
    _sorted: np.ndarray = field(default_factory=lambda: np.zeros((16, 0), dtype=np.uint16))

    def __len__(self) -> int:
        return len(self._videos)

    @property
    def hashes(self) -> int:
        """Frame hashes held (quality >= MIN_QUALITY only: the others are never looked up)."""
        return len(self._video_of) + len(self._pending)

    @property
    def nbytes(self) -> int:
        """Memory of the arrays searched (hashes, their video and time, the multi-index)."""
        arrays = (self._video_of, self._at, self._words, self._order, self._sorted)
        return sum(a.nbytes for a in arrays)

    def add(self, label: str, md5: str, hashes: Iterable[FrameHash]) -> None:
        index = len(self._videos)
        self._videos.append(_Registered(label, md5.lower()))
        if md5:
            self._by_md5.setdefault(md5.lower(), index)
        self._pending.extend((index, h) for h in hashes if h.quality >= MIN_QUALITY)

    def add_fingerprint(self, label: str, fp: VideoFingerprint) -> None:
        self.add(label, fp.md5, fp.all_hashes)

    def add_arrays(
        self,
        labels: Sequence[str],
        md5s: Sequence[str],
        video_of: np.ndarray,
        at: np.ndarray,
        words: np.ndarray,
    ) -> None:
        """Bulk registration (benchmarks, loading from storage): row i of ``words`` (n, 4)
        is a hash of video ``video_of[i]`` (0 is ``labels[0]``) at ``at[i]`` seconds; only
        hashes of quality >= MIN_QUALITY belong here."""
        self._build()
        first = len(self._videos)
        for label, md5 in zip(labels, md5s, strict=True):
            if md5:
                self._by_md5.setdefault(md5.lower(), len(self._videos))
            self._videos.append(_Registered(label, md5.lower()))
        self._video_of = np.concatenate([self._video_of, video_of.astype(np.int32) + first])
        self._at = np.concatenate([self._at, at.astype(np.float32)])
        self._words = np.concatenate([self._words, words.astype(np.uint64).reshape(-1, 4)])
        self._order, self._sorted = chunk_index(self._words)

    def _build(self) -> None:
        if not self._pending:
            return
        self._video_of = np.concatenate(
            [self._video_of, np.array([v for v, _ in self._pending], dtype=np.int32)]
        )
        self._at = np.concatenate(
            [self._at, np.array([h.at for _, h in self._pending], dtype=np.float32)]
        )
        words = np.array([h.pdq.words() for _, h in self._pending], dtype=np.uint64)
        self._words = np.concatenate([self._words, words.reshape(-1, 4)])
        self._pending = []
        self._order, self._sorted = chunk_index(self._words)

    def _near(self, query: PdqHash) -> tuple[np.ndarray, np.ndarray]:
        """Rows within FRAME_MAX_DISTANCE of ``query`` and their distances (a benchmark swaps
        in a linear scan)."""
        return rows_near(self._order, self._sorted, self._words, query, FRAME_MAX_DISTANCE)

    def match(self, query: VideoFingerprint) -> VideoMatch:
        found = self._by_md5.get(query.md5.lower()) if query.md5 else None
        if found is not None:
            frames = len(query.frames)
            return VideoMatch(
                self._videos[found].label,
                VideoMethod.MD5,
                VideoTier.STRONG,
                frames,
                frames,
                ((0.0, round(query.duration, 2)),),
                ((0.0, round(query.duration, 2)),),
                0.0,
            )
        return self.match_frames(query)

    def match_frames(self, query: VideoFingerprint) -> VideoMatch:
        self._build()
        usable = query.usable
        if not len(self._video_of) or not usable:
            return NO_VIDEO_MATCH
        usable_times = {round(f.at, 3) for f in usable}
        # video -> [(query time, registered time)] for every frame pair within the radius.
        pairs: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
        for frame in query.all_hashes:
            if frame.quality < MIN_QUALITY or round(frame.at, 3) not in usable_times:
                continue
            rows, distances = self._near(frame.pdq)
            for row, distance in zip(rows.tolist(), distances.tolist(), strict=True):
                pairs[int(self._video_of[row])].append((frame.at, float(self._at[row]), distance))
        best: VideoMatch = NO_VIDEO_MATCH
        needed = min(MIN_ALIGNED_FRAMES, len(usable))
        for video, found_pairs in pairs.items():
            aligned, offset = _aligned(found_pairs)
            if len(aligned) < needed or len(aligned) <= best.frames_matched:
                continue
            tier = (
                VideoTier.STRONG
                if len(aligned) >= min(STRONG_ALIGNED_FRAMES, len(usable))
                and len(aligned) >= MIN_ALIGNED_FRAMES
                else VideoTier.CANDIDATE
            )
            best = VideoMatch(
                self._videos[video].label,
                VideoMethod.FRAMES,
                tier,
                len(aligned),
                len(usable),
                _ranges(aligned),
                _ranges(t + offset for t in aligned),
                round(offset, 2),
            )
        return best


def _aligned(pairs: list[tuple[float, float, int]]) -> tuple[set[float], float]:
    """The query times that agree on one offset (registered - query time), and that offset.

    Each query frame votes with its closest registered frame (the one most likely at the true
    time: in a calm shot, frames a second apart are within the radius too); the offset is the
    median of the votes in the ALIGN_TOLERANCE_S window holding most, and every query frame with
    any pair within the tolerance of it is aligned."""
    closest: dict[float, tuple[int, float]] = {}
    for q, r, distance in pairs:
        if q not in closest or distance < closest[q][0]:
            closest[q] = (distance, r - q)
    votes = sorted(offset for _, offset in closest.values())
    best_count, best_window = 0, (0, 0)
    lo = 0
    for hi, offset in enumerate(votes):
        while offset - votes[lo] > 2 * ALIGN_TOLERANCE_S:
            lo += 1
        if hi - lo + 1 > best_count:
            best_count, best_window = hi - lo + 1, (lo, hi + 1)
    best_offset = float(np.median(votes[best_window[0] : best_window[1]]))
    times = {q for q, r, _ in pairs if abs((r - q) - best_offset) <= ALIGN_TOLERANCE_S}
    return times, best_offset


# -- second stage: local features of stills -----------------------------------------------------


def video_stills(
    data: bytes, every_s: float | None = None, limit: int = QUERY_STILLS
) -> list[tuple[float, Image.Image]]:
    """(seconds, picture) of at most ``limit`` frames of ``data``, decoded in memory under the
    same limits as :func:`fingerprint_video`, at most STILL_SIDE pixels a side: one every
    ``every_s`` seconds (further apart when the video is too long for ``limit``), or, when
    ``every_s`` is None, ``limit`` stills spread evenly over the clip (at 1/(limit+1), 2/(limit+1)
    ... of its length: no opening title nor closing frame)."""
    if limit <= 0:
        return []
    container = _open(data)
    try:
        stream, width, height, declared = _checked_stream(container)
        if every_s is None:
            length = declared or limit * SAMPLE_EVERY_S
            targets = [length * (i + 1) / (limit + 1) for i in range(limit)]
        else:
            every = max(every_s, declared / limit) if declared else every_s
            targets = [i * every for i in range(limit)]
        scale = min(1.0, STILL_SIDE / max(width, height, 1))
        size_w, size_h = max(1, round(width * scale)), max(1, round(height * scale))
        stills: list[tuple[float, Image.Image]] = []
        for at, frame in _frames(container, stream):
            if at + 1e-6 < targets[len(stills)]:
                continue
            stills.append((at, frame.to_image(width=size_w, height=size_h)))
            # Frames far apart in time (a slideshow) serve one target each.
            while len(stills) < len(targets) and targets[len(stills)] <= at:
                targets.pop(len(stills))
            if len(stills) >= len(targets):
                break
        return stills
    except av.error.FFmpegError as exc:
        raise VideoError(f"truncated or corrupt video: {exc}") from None
    finally:
        container.close()


def registration_keyframes(
    stills: Sequence[tuple[float, Image.Image]],
) -> list[tuple[str, LocalFeatures]]:
    """(tag, features) of each registration keyframe, plain ("12.00") and mirrored ("12.00m")."""
    keyframes: list[tuple[str, LocalFeatures]] = []
    for at, image in stills:
        keyframes.append((f"{at:.2f}", registration_features(image)))
        mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        keyframes.append((f"{at:.2f}m", registration_features(mirrored)))
    return keyframes


def add_keyframes(
    features: FeatureIndex, video: str, keyframes: Iterable[tuple[str, LocalFeatures]]
) -> None:
    """Each keyframe of registered ``video`` into ``features``, labelled back to the video."""
    for tag, local in keyframes:
        features.add(f"{video}{KEYFRAME_SEP}{tag}", local)


def _keyframe_at(tag: str) -> float:
    return float(tag.rstrip("m"))


def match_video(
    index: VideoIndex,
    features: FeatureIndex | None,
    query_fp: VideoFingerprint,
    query_stills: Sequence[tuple[float, Image.Image]] | None,
) -> VideoMatch:
    """MD5 and PDQ frames first (what the field exchanges); then, for what they miss (crops),
    the local features of the query's stills against the registered keyframes."""
    found = index.match(query_fp)
    if found.video is not None or features is None or not query_stills:
        return found
    return match_stills(features, query_stills)


def match_stills(
    features: FeatureIndex, query_stills: Sequence[tuple[float, Image.Image]]
) -> VideoMatch:
    """The registered video whose keyframes MIN_STILLS_MATCHING of ``query_stills`` match."""
    if not len(features) or not query_stills:
        return NO_VIDEO_MATCH
    # registered video -> [(query still's time, keyframe's time, strong)]
    agreeing: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for at, image in query_stills:
        best = features.best_match(query_features(image))
        if best.photo is None or best.tier is None:
            continue
        video, tag = best.photo.rsplit(KEYFRAME_SEP, 1)
        agreeing[video].append((at, _keyframe_at(tag), best.tier is FeatureTier.STRONG))
    needed = min(MIN_STILLS_MATCHING, len(query_stills))
    best_video, votes = max(agreeing.items(), key=lambda kv: len(kv[1]), default=(None, []))
    if best_video is None or len(votes) < needed:
        return NO_VIDEO_MATCH
    strong = sum(s for _, _, s in votes) >= min(STRONG_STILLS, len(query_stills))
    return VideoMatch(
        best_video,
        VideoMethod.FEATURES,
        VideoTier.STRONG if strong and len(votes) >= STRONG_STILLS else VideoTier.CANDIDATE,
        len(votes),
        len(query_stills),
        tuple((round(q, 2), round(q, 2)) for q, _, _ in votes),
        tuple((round(r, 2), round(r, 2)) for _, r, _ in votes),
        None,
    )
