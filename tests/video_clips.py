"""Real video clips for tests, and re-posted copies of them made in memory (PyAV), as a
harasser's re-upload would be: an excerpt, re-encoded to H.264 at a lower bitrate and size."""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Sequence
from fractions import Fraction

import av

from matching.videos import ALIGN_TOLERANCE_S
from tests.conftest import DATA

VIDEO = DATA / "video"
# The first 30 s of Big Buck Bunny (tests/data/video/SOURCES.md): the registered video.
ORIGINAL = VIDEO / "moviepy_big_buck_bunny_0_30.webm"
# Another scene of the same film, 1 s: a crawled video that is not the registered one.
OTHER = VIDEO / "moviepy_big_buck_bunny_432_433.webm"


def original() -> bytes:
    return ORIGINAL.read_bytes()


def other() -> bytes:
    return OTHER.read_bytes()


@functools.cache
def excerpt(
    start: float = 8.0,
    end: float = 18.0,
    width: int = 480,
    height: int = 270,
    bit_rate: int = 300_000,
    source: str = "original",
) -> bytes:
    """Seconds ``start``-``end`` of the clip, resized and re-encoded as an MP4 (H.264), in
    memory only."""
    data = original() if source == "original" else other()
    rate = 24
    out_buffer = io.BytesIO()
    with (
        av.open(io.BytesIO(data), mode="r") as src,
        av.open(out_buffer, mode="w", format="mp4") as out,
    ):
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bit_rate
        n = 0
        for frame in src.decode(video=0):
            if frame.time is None or frame.time < start:
                continue
            if frame.time >= end:
                break
            picture = frame.reformat(width=width, height=height, format="yuv420p")
            picture.pts = n
            picture.time_base = Fraction(1, rate)
            n += 1
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return out_buffer.getvalue()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


# A block of a clip is looked for only when it has this many different byte values: the
# coded picture and sound (nearly all of a file) have 28-32 in 32 bytes, while container
# padding and headers (runs of zeros, "ftypisom") would also be found in files that hold no
# video at all.
MIN_DISTINCT_BYTES = 20


def blocks(data: bytes, size: int = 32) -> list[bytes]:
    """The clip cut in aligned blocks: any copy of ``2 * size`` consecutive bytes of its coded
    data holds one of them whole."""
    cut = [data[i : i + size] for i in range(0, len(data) - size + 1, size)]
    return [b for b in cut if len(set(b)) >= MIN_DISTINCT_BYTES]


def within(
    ranges: Sequence[tuple[float, float]], start: float, end: float, covered: float = 6.0
) -> bool:
    """A match's ranges lie where the excerpt was cut (``start``-``end`` s, give or take the
    alignment tolerance) and cover ``covered`` seconds of it at least."""
    return (
        bool(ranges)
        and all(start - ALIGN_TOLERANCE_S <= a <= b <= end + ALIGN_TOLERANCE_S for a, b in ranges)
        and sum(b - a for a, b in ranges) >= covered
    )
