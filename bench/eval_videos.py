"""`make eval` (videos): recall per alteration family and false positives over every negative, on
the real clips of shared/realdata/video (Big Buck Bunny 0-30 s and 432-433 s), for our matcher and
the plain vPDQ baseline, in one run. "feat" counts the copies found by the local-features stage
(SIFT on keyframes, matching.videos.match_video) after MD5 and PDQ frames missed them.

Each clip is registered (``fingerprint_video(..., registration=True)``) into one index. Altered
copies are made with PyAV in memory (decoded, edited as arrays, encoded into a BytesIO), each
alteration's parameters drawn at random from a range with a printed seed: ``--seed N`` replays a
run, ``--draws`` sets draws per family for the long clip (the 1-second clip gets a third of them,
and none of the families that cut a 5-second excerpt out of it).

Negatives, any match there being a false positive: every copy of a clip (and the clip itself)
asked of an index holding only the other clip, and slideshows of the real photos in
shared/realdata/photos/distinct (a few seconds per photo, re-encoded) asked of the full index.

Baseline: vPDQ as Meta publishes it (plain frame hashes, a frame matches at PDQ <= 31 with
quality >= 50 on both sides, a video matches when >= 80% of the query's frames match any of its
frames), and MD5 alone (what a ``VideoMD5`` list catches: no altered copy).
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.container import InputContainer, OutputContainer
from av.video.stream import VideoStream
from PIL import Image, ImageDraw, ImageFont

import matching.videos as videos
from matching.features import FeatureIndex
from matching.videos import (
    FRAME_MAX_DISTANCE,
    KEYFRAME_EVERY_S,
    MAX_KEYFRAMES,
    VideoFingerprint,
    VideoIndex,
    VideoMatch,
    VideoMethod,
    add_keyframes,
    fingerprint_video,
    match_video,
    registration_keyframes,
    video_stills,
)


def _realdata() -> Path:
    # shared/ sits beside the checkout (/work/main) or beside the worktrees' folder (/work/wt/x).
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "realdata").is_dir():
            return parent / "shared" / "realdata"
    raise SystemExit("shared/realdata not found beside the checkout")


# Looked up when the evaluation runs, not on import: the tests import its renderers and read
# their clips from tests/data.
def _videos_dir() -> Path:
    return _realdata() / "video"


def _photos_dir() -> Path:
    return _realdata() / "photos" / "distinct"


DEFAULT_SEED = 20261204
DEFAULT_DRAWS = 6
EXCERPT_S = 5.0
# vPDQ's published default: a query matches a video when this share of its frames match.
BASELINE_QUERY_SHARE = 0.8

# Encoder settings: fast (the eval makes dozens of copies) and deterministic, so that a seed
# replays the same bytes. libvpx's "realtime" deadline adapts to the wall clock: on a loaded
# machine it made other bytes from one run to the next (and a test's copy lost frames).
X264_OPTIONS = {"preset": "veryfast", "threads": "1"}
VPX_OPTIONS = {"deadline": "good", "cpu-used": "5", "threads": "1"}

CAPTIONS = [
    "regardez ce qu'elle fait",
    "LEAK 2024 full video",
    "t'as vu ça ??",
    "lien en bio",
    "NEW exclusive",
    "envoie 200€ ou je publie",
]


# -- alterations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caption:
    share: float  # band height, share of the picture's height
    top: bool
    text: str | None  # None: a flat band
    colour: tuple[int, int, int]
    pad: bool  # True: the band is added above/below the picture; False: it covers it

    def __str__(self) -> str:
        what = f"text {self.text!r}" if self.text else "flat"
        how = "added" if self.pad else "over the picture"
        return f"caption {self.share:.0%} {'top' if self.top else 'bottom'} {what} {how}"


@dataclass(frozen=True)
class Edit:
    """One altered copy: every field is drawn by a family, the rest keep the source's."""

    start: float = 0.0
    length: float | None = None  # seconds kept from ``start``; None: to the end
    scale: float = 1.0
    crop: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # top, bottom, left, right
    mirror: bool = False
    caption: Caption | None = None
    codec: str = "libx264"
    bitrate: int = 1_000_000
    fps: float | None = None  # None: the source's frame rate

    def __str__(self) -> str:
        parts = []
        if self.length is not None:
            parts.append(f"excerpt {self.start:.2f}-{self.start + self.length:.2f} s")
        if any(self.crop):
            t, b, left, r = self.crop
            parts.append(f"crop t{t:.1%} b{b:.1%} l{left:.1%} r{r:.1%}")
        if self.mirror:
            parts.append("mirrored")
        if self.scale != 1.0:
            parts.append(f"scale {self.scale:.0%}")
        if self.caption:
            parts.append(str(self.caption))
        if self.fps:
            parts.append(f"{self.fps:g} fps")
        parts.append(f"{self.codec} {self.bitrate // 1000} kb/s")
        return ", ".join(parts)


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


def _band(width: int, caption: Caption, height: int) -> np.ndarray:
    band = Image.new("RGB", (width, height), caption.colour)
    if caption.text:
        draw = ImageDraw.Draw(band)
        font = ImageFont.load_default(size=max(8, int(height * 0.6)))
        ink = tuple(255 - c for c in caption.colour)
        draw.text((width // 2, height // 2), caption.text, fill=ink, font=font, anchor="mm")
    return np.asarray(band)


def _output(
    buffer: io.BytesIO, codec: str, fps: Fraction, size: tuple[int, int], bitrate: int
) -> tuple[OutputContainer, VideoStream]:
    """An MP4 (H.264) or WebM (VP8/VP9) being written into ``buffer``, and its video stream."""
    out = av.open(buffer, mode="w", format="mp4" if codec == "libx264" else "webm")
    assert isinstance(out, OutputContainer)
    stream = out.add_stream(codec, rate=fps)
    assert isinstance(stream, VideoStream)
    stream.width, stream.height = size
    stream.pix_fmt, stream.bit_rate, stream.time_base = "yuv420p", bitrate, 1 / fps
    stream.options = dict(X264_OPTIONS if codec == "libx264" else VPX_OPTIONS)
    return out, stream


def render(source: bytes, edit: Edit) -> bytes:
    """The altered copy's bytes (MP4 for H.264, WebM for VP8/VP9), made in memory."""
    inp = av.open(io.BytesIO(source))
    assert isinstance(inp, InputContainer)
    try:
        stream = inp.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        source_rate = float(stream.average_rate or 25)
        fps = Fraction(edit.fps or source_rate).limit_denominator(1001)
        t, b, left, r = edit.crop
        rows = slice(round(height * t), height - round(height * b))
        cols = slice(round(width * left), width - round(width * r))
        out_w = _even((cols.stop - cols.start) * edit.scale)
        out_h = _even((rows.stop - rows.start) * edit.scale)
        band = None
        if edit.caption:
            band = _band(out_w, edit.caption, _even(out_h * edit.caption.share))
        total_h = out_h
        if band is not None and edit.caption is not None and edit.caption.pad:
            total_h += len(band)
        buffer = io.BytesIO()
        out, ost = _output(buffer, edit.codec, fps, (out_w, total_h), edit.bitrate)
        end = edit.start + edit.length if edit.length is not None else float("inf")
        half = 0.5 / source_rate
        slot = 0
        for frame in inp.decode(stream):
            at = float(frame.time or 0.0)
            if at < edit.start - half:
                continue
            if at >= end - half:
                break
            picture: np.ndarray | None = None
            # Output frames are at start + k/fps; each takes the source frame nearest to it.
            while edit.start + slot / fps < at + half:
                if picture is None:
                    picture = _edit_picture(frame.to_ndarray(format="rgb24"), edit, rows, cols)
                    picture = _with_band(picture, band, edit.caption, (out_w, out_h))
                out_frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                out_frame.pts = slot
                out_frame.time_base = 1 / fps
                for packet in ost.encode(out_frame):
                    out.mux(packet)
                slot += 1
        for packet in ost.encode():
            out.mux(packet)
        out.close()
        return buffer.getvalue()
    finally:
        inp.close()


def _edit_picture(rgb: np.ndarray, edit: Edit, rows: slice, cols: slice) -> np.ndarray:
    rgb = rgb[rows, cols]
    if edit.mirror:
        rgb = rgb[:, ::-1]
    return np.ascontiguousarray(rgb)


def _with_band(
    rgb: np.ndarray, band: np.ndarray | None, caption: Caption | None, size: tuple[int, int]
) -> np.ndarray:
    image = Image.fromarray(rgb)
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    picture = np.asarray(image)
    if band is None or caption is None:
        return picture
    if caption.pad:
        parts = (band, picture) if caption.top else (picture, band)
        return np.ascontiguousarray(np.concatenate(parts))
    picture = picture.copy()
    if caption.top:
        picture[: len(band)] = band
    else:
        picture[-len(band) :] = band
    return picture


def slideshow(
    photos: list[Path],
    seconds: list[float],
    codec: str,
    bitrate: int,
    size: tuple[int, int] = (1280, 720),
) -> bytes:
    """The photos one after the other, each shown ``seconds`` at ``size`` (fitted, black
    bars), as a phone's slideshow app makes them."""
    fps = Fraction(24)
    width, height = size
    buffer = io.BytesIO()
    out, ost = _output(buffer, codec, fps, size, bitrate)
    slot = 0
    for path, shown in zip(photos, seconds, strict=True):
        image = Image.open(path).convert("RGB")
        image.thumbnail((width, height))
        canvas = Image.new("RGB", (width, height))
        canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
        picture = np.asarray(canvas)
        for _ in range(round(shown * fps)):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = slot, 1 / fps
            for packet in ost.encode(frame):
                out.mux(packet)
            slot += 1
    for packet in ost.encode():
        out.mux(packet)
    out.close()
    return buffer.getvalue()


# Each family draws an Edit for a clip of ``duration`` seconds. Ranges are wider than, and never
# equal to, what registration hashes (mirror, 6% and 12% centre crops).
Draw = Callable[[random.Random, float], Edit]

CODECS = ("libx264", "libvpx", "libvpx-vp9")


def _codec(rng: random.Random, edit: Edit, low: int = 80, high: int = 300) -> Edit:
    # The sources are VP8 at about 345 kb/s: re-posts are smaller.
    return replace(edit, codec=rng.choice(CODECS), bitrate=rng.randint(low, high) * 1000)


def _crop(rng: random.Random) -> tuple[float, float, float, float]:
    # 5-15% per axis, split at random between its two sides (off-centre, often one side only).
    sides: list[float] = []
    for _axis in range(2):
        total, split = rng.uniform(0.05, 0.15), rng.random()
        sides.extend((total * split, total * (1 - split)))
    return sides[0], sides[1], sides[2], sides[3]


def _caption(rng: random.Random) -> Caption:
    return Caption(
        share=rng.uniform(0.08, 0.20),
        top=rng.random() < 0.5,
        text=rng.choice(CAPTIONS) if rng.random() < 0.6 else None,
        colour=(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
        pad=rng.random() < 0.5,
    )


def _excerpt(rng: random.Random, duration: float) -> Edit:
    return Edit(start=rng.uniform(0, duration - EXCERPT_S), length=EXCERPT_S)


def _reencoded(rng: random.Random, duration: float) -> Edit:
    return _codec(rng, Edit())


def _resized(rng: random.Random, duration: float) -> Edit:
    return _codec(rng, Edit(scale=rng.uniform(0.3, 0.8)), 150, 400)


def _cropped(rng: random.Random, duration: float) -> Edit:
    return _codec(rng, Edit(crop=_crop(rng)), 150, 400)


def _excerpted(rng: random.Random, duration: float) -> Edit:
    return _codec(rng, _excerpt(rng, duration), 150, 400)


def _mirrored(rng: random.Random, duration: float) -> Edit:
    return _codec(rng, Edit(mirror=True), 150, 400)


def _captioned(rng: random.Random, duration: float) -> Edit:
    return _codec(rng, Edit(caption=_caption(rng)), 150, 400)


def _repost(rng: random.Random, duration: float) -> Edit:
    # The usual re-post: an excerpt, smaller, re-encoded, often at another frame rate.
    edit = replace(
        _excerpt(rng, duration),
        scale=rng.uniform(0.3, 0.8),
        fps=float(rng.choice((15, 20, 25, 30))),
    )
    return _codec(rng, edit)


def _everything(rng: random.Random, duration: float) -> Edit:
    # Everything at once but the excerpt: cropped, mirrored or not, captioned, smaller.
    edit = Edit(
        crop=_crop(rng),
        mirror=rng.random() < 0.5,
        caption=_caption(rng),
        scale=rng.uniform(0.3, 0.8),
    )
    return _codec(rng, edit)


# name: (draw, needs a clip long enough to cut a 5-second excerpt from)
FAMILIES: dict[str, tuple[Draw, bool]] = {
    "re-encoded": (_reencoded, False),
    "resized": (_resized, False),
    "cropped": (_cropped, False),
    "excerpt 5 s": (_excerpted, True),
    "mirrored": (_mirrored, False),
    "caption band": (_captioned, False),
    "excerpt+resize+re-encode": (_repost, True),
    "crop+mirror?+caption+resize": (_everything, False),
}


# -- running -------------------------------------------------------------------------------------


@dataclass
class Query:
    family: str
    clip: str | None  # None: a negative that must match nothing
    name: str
    fp: VideoFingerprint
    stills: list[tuple[float, Image.Image]] = field(default_factory=list)
    duration: float = 0.0


@dataclass
class Baseline:
    """vPDQ as published: plain frames of each registered video, brute force."""

    videos: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, label: str, fp: VideoFingerprint) -> None:
        self.videos[label] = _words(fp.usable)

    def match(self, query: VideoFingerprint) -> str | None:
        q = _words(query.usable)
        if not len(q):
            return None
        best, best_share = None, 0.0
        for label, words in self.videos.items():
            if not len(words):
                continue
            d = np.bitwise_count(q[:, None, :] ^ words[None, :, :]).sum(axis=2)
            share = float((d.min(axis=1) <= FRAME_MAX_DISTANCE).mean())
            if share >= BASELINE_QUERY_SHARE and share > best_share:
                best, best_share = label, share
        return best


def _words(frames: tuple) -> np.ndarray:
    return np.array([f.pdq.words() for f in frames], dtype=np.uint64).reshape(-1, 4)


def clips() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(_videos_dir().glob("*.webm"))}


def draw_copies(
    rng: random.Random, data: bytes, duration: float, draws: int
) -> Iterator[tuple[str, Edit, bytes]]:
    """(family, edit, bytes) of every altered copy of one clip."""
    long_enough = duration >= 2 * EXCERPT_S
    for family, (draw, needs_length) in FAMILIES.items():
        if needs_length and not long_enough:
            continue
        for _ in range(draws if long_enough else max(1, draws // 3)):
            edit = draw(rng, duration)
            yield family, edit, render(data, edit)


def _frames_aligned(index: VideoIndex, fp: VideoFingerprint) -> int:
    """The most frames ``fp`` aligns with one video of ``index``, below the threshold too."""
    kept = videos.MIN_ALIGNED_FRAMES
    videos.MIN_ALIGNED_FRAMES = 1
    try:
        return index.match_frames(fp).frames_matched
    finally:
        videos.MIN_ALIGNED_FRAMES = kept


def _describe(match: VideoMatch) -> str:
    if match.video is None:
        return "nothing"
    return f"{match.video} {match.tier} ({match.why})"


@dataclass(frozen=True)
class Copy:
    family: str
    clip: str | None  # None: a negative that must match nothing
    name: str
    data: bytes


def make_copies(rng: random.Random, draws: int, slideshows: int) -> list[Copy]:
    """Every altered copy of every clip, then the slideshows, in a fixed order for a seed."""
    copies = []
    for name, data in clips().items():
        duration = fingerprint_video(data).duration
        copies.append(Copy("original (MD5)", name, name, data))
        for family, edit, copy in draw_copies(rng, data, duration, draws):
            copies.append(Copy(family, name, str(edit), copy))
    photos = sorted(_photos_dir().iterdir())
    for i in range(slideshows):
        chosen = rng.sample(photos, rng.randint(4, 10))
        seconds = [round(rng.uniform(1.0, 4.0), 1) for _ in chosen]
        codec = rng.choice(CODECS)
        data = slideshow(chosen, seconds, codec, rng.randint(200, 800) * 1000)
        name = f"slideshow {i}: {len(chosen)} photos, {sum(seconds):.0f} s, {codec}"
        copies.append(Copy("negative: slideshow", None, name, data))
    return copies


def evaluate(copies: list[Copy]) -> None:
    started = time.perf_counter()
    sources = clips()
    registered = {
        name: fingerprint_video(data, registration=True) for name, data in sources.items()
    }
    keyframes = {
        name: registration_keyframes(video_stills(data, KEYFRAME_EVERY_S, MAX_KEYFRAMES))
        for name, data in sources.items()
    }
    full, alone, baseline, baseline_alone = VideoIndex(), {}, Baseline(), {}
    full_features: FeatureIndex = FeatureIndex()
    alone_features: dict[str, FeatureIndex] = {}
    for name, fp in registered.items():
        full.add_fingerprint(name, fp)
        add_keyframes(full_features, name, keyframes[name])
        alone[name] = VideoIndex()
        alone[name].add_fingerprint(name, fp)
        alone_features[name] = FeatureIndex()
        add_keyframes(alone_features[name], name, keyframes[name])
        baseline.add(name, fp)
        baseline_alone[name] = Baseline()
        baseline_alone[name].add(name, fp)
    queries = [
        Query(c.family, c.clip, c.name, fingerprint_video(c.data), video_stills(c.data))
        for c in copies
    ]
    slideshows = sum(c.clip is None for c in copies)
    built = time.perf_counter()

    found: dict[str, list[bool]] = defaultdict(list)
    strong: dict[str, list[bool]] = defaultdict(list)
    matched_frames: dict[str, list[int]] = defaultdict(list)
    base: dict[str, list[bool]] = defaultdict(list)
    by_features: dict[str, int] = defaultdict(int)  # found through the local-features stage
    misses: list[str] = []
    false_ours: list[str] = []
    false_base: list[str] = []
    negatives = 0
    closest: list[tuple[int, str]] = []  # frames a negative aligns with a wrong video
    for q in queries:
        if q.clip is None:
            negatives += 1
            wrong = match_video(full, full_features, q.fp, q.stills)
            closest.append((_frames_aligned(full, q.fp), f"{q.family} {q.name}"))
            if wrong.video is not None:
                false_ours.append(f"  {q.family} {q.name} -> {_describe(wrong)}")
            if baseline.match(q.fp) is not None:
                false_base.append(f"  {q.family} {q.name}")
            continue
        match = match_video(full, full_features, q.fp, q.stills)
        ok = match.video == q.clip
        found[q.family].append(ok)
        strong[q.family].append(ok and match.tier == "strong")
        base[q.family].append(baseline.match(q.fp) == q.clip)
        if ok and match.method is VideoMethod.FEATURES:
            by_features[q.family] += 1
        elif ok:
            matched_frames[q.family].append(match.frames_matched)
        else:
            misses.append(
                f"  {q.family:28} {q.clip} [{q.name}]: {_describe(match)}; "
                f"{len(q.fp.usable)} usable of {len(q.fp.frames)} sampled frames"
            )
        # The same copy asked of an index holding only the other clip.
        for other, index in alone.items():
            if other == q.clip:
                continue
            negatives += 1
            wrong = match_video(index, alone_features[other], q.fp, q.stills)
            closest.append((_frames_aligned(index, q.fp), f"{q.family} of {q.clip} [{q.name}]"))
            if wrong.video is not None:
                false_ours.append(f"  {q.family} of {q.clip} [{q.name}] -> {_describe(wrong)}")
            if baseline_alone[other].match(q.fp) is not None:
                false_base.append(f"  {q.family} of {q.clip} [{q.name}]")

    print(
        f"{'family':30} {'n':>4} {'ours':>7} {'strong':>7} {'vPDQ':>7} {'MD5':>6} {'feat':>5}   "
        "frames matched by PDQ (median, min)"
    )
    total = hits = base_hits = 0
    for family, results in found.items():
        n = len(results)
        total, hits, base_hits = total + n, hits + sum(results), base_hits + sum(base[family])
        frames = matched_frames[family]
        spread = f"{statistics.median(frames):.0f}, {min(frames)}" if frames else "-"
        md5 = 100.0 if family.startswith("original") else 0.0
        print(
            f"{family:30} {n:>4} {100 * sum(results) / n:>6.1f}% "
            f"{100 * sum(strong[family]) / n:>6.1f}% {100 * sum(base[family]) / n:>6.1f}% "
            f"{md5:>5.0f}% {by_features[family]:>5}   {spread}"
        )
    print(
        f"{'all families':30} {total:>4} {100 * hits / total:>6.1f}% {'':>7} "
        f"{100 * base_hits / total:>6.1f}%"
    )
    print(
        f"{'false positives (all negatives)':30} {negatives:>4} {len(false_ours):>7} {'':>7} "
        f"{len(false_base):>7}"
    )
    for line in false_ours:
        print(line)
    if false_base:
        print(f"vPDQ baseline false positives ({len(false_base)}):")
        for line in false_base:
            print(line)
    most, which = max(closest)
    print(
        f"  nearest negative: {most} frames aligned with a wrong video at one offset "
        f"(a match needs {videos.MIN_ALIGNED_FRAMES})" + (f": {which}" if most else "")
    )
    print(f"missed by ours ({len(misses)}):")
    for line in misses:
        print(line)
    clips_line = ", ".join(
        f"{n} ({fp.duration:.0f} s, {len(fp.frames)} frames, {len(fp.all_hashes)} hashes)"
        for n, fp in registered.items()
    )
    print(
        f"registered: {clips_line}; negatives: each copy against the other clip alone, "
        f"{slideshows} photo slideshows against both"
    )
    print(
        f"{total} positive queries, {negatives} negative queries; fingerprinted in "
        f"{built - started:.0f} s, matched in {time.perf_counter() - built:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS)
    parser.add_argument("--slideshows", type=int, default=6)
    args = parser.parse_args(argv)
    print(f"video eval: seed {args.seed} (replay with --seed {args.seed}), {args.draws} draws")
    started = time.perf_counter()
    copies = make_copies(random.Random(args.seed), args.draws, args.slideshows)
    print(f"{len(copies)} copies made in memory in {time.perf_counter() - started:.0f} s")
    evaluate(copies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
