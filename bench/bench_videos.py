"""`make bench` (videos).

1. Seconds of video hashed per second of CPU, on the real 30-second clip (shared/realdata/video,
   VP8 1280x720), in crawl mode and in registration mode, beside FFmpeg's decoding alone (the
   floor: every frame must be decoded to find scene changes). CPU time of this process, one
   thread (``make bench`` sets OPENBLAS_NUM_THREADS=1 and friends), since the machine is shared.
2. Matching one crawled video against 10,000 registered videos: VideoIndex (MD5, then each
   sampled frame looked up by multi-index hashing, then temporal alignment) beside the
   brute-force baseline (every crawled hash against every registered hash, then the same
   alignment), in the same run, on the same queries.

The registered videos are the two real clips plus synthetic ones made from real frame hashes
(see :func:`synthetic_videos`), so that the index holds what real videos give it: hashes that
cluster (frames of one shot are near each other) rather than uniform random bits.

``--videos N`` registers N videos instead of 10,000 (quick runs).
"""

from __future__ import annotations

import argparse
import io
import random
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import fields

import av
import numpy as np
from av.container import InputContainer

from bench.eval_videos import Edit, _photos_dir, clips, render, slideshow
from matching.hashes import PdqHash
from matching.photos import MIN_QUALITY
from matching.videos import (
    FRAME_MAX_DISTANCE,
    REGISTRATION_DENSITY,
    SAMPLE_EVERY_S,
    VideoFingerprint,
    VideoIndex,
    fingerprint_video,
)

REGISTERED_VIDEOS = 10_000
SEED = 2026
# Synthetic registered videos: durations drawn in this range (a sextortion clip is a few
# minutes of phone video at most), cut in shots of SHOT_S seconds.
DURATION_S = (10.0, 180.0)
SHOT_S = (2.0, 10.0)
# Bits flipped from a real frame hash to make a shot's first frame of another video (0.35:
# ~90 bits away from its source, as unrelated real frames are), then from frame to frame
# within a shot (0.06: consecutive registered frames 0.25 s apart lie ~20-30 bits apart,
# as measured on Big Buck Bunny).
SHOT_FLIP = 0.35
FRAME_FLIP = 0.06
MIN_CPU_S = 3.0


def _cpu_rate(work: Callable[[], object], seconds_of_video: float) -> tuple[float, float]:
    """(seconds of video per CPU second, CPU seconds per run), over at least MIN_CPU_S."""
    work()  # warm up (codec tables, first allocation)
    runs, started = 0, time.process_time()
    while time.process_time() - started < MIN_CPU_S:
        work()
        runs += 1
    cpu = (time.process_time() - started) / runs
    return seconds_of_video / cpu, cpu


def _decode_only(data: bytes) -> None:
    with av.open(io.BytesIO(data)) as container:
        assert isinstance(container, InputContainer)
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            packet.decode()


def hashing_speed() -> None:
    data = clips()["moviepy_big_buck_bunny_0_30.webm"]
    duration = fingerprint_video(data).duration
    floor, floor_cpu = _cpu_rate(lambda: _decode_only(data), duration)
    crawl, crawl_cpu = _cpu_rate(lambda: fingerprint_video(data), duration)
    reg, reg_cpu = _cpu_rate(lambda: fingerprint_video(data, registration=True), duration)
    crawl_fp = fingerprint_video(data)
    reg_fp = fingerprint_video(data, registration=True)
    print(
        f"hashing the real clip ({duration:.0f} s, VP8 1280x720, {len(data) / 2**20:.1f} MiB), "
        "seconds of video per CPU second:"
    )
    print(
        f"  crawl:        {crawl:6.1f} s/s ({crawl_cpu * 1000:.0f} ms CPU; "
        f"{len(crawl_fp.frames)} frames, {len(crawl_fp.all_hashes)} hashes)"
    )
    print(
        f"  registration: {reg:6.1f} s/s ({reg_cpu * 1000:.0f} ms CPU; "
        f"{len(reg_fp.frames)} frames, {len(reg_fp.all_hashes)} hashes)"
    )
    print(
        f"  floor, FFmpeg decoding alone: {floor:6.1f} s/s ({floor_cpu * 1000:.0f} ms CPU): "
        f"crawl hashing costs {crawl_cpu / floor_cpu:.2f}x the decoding"
    )


def synthetic_videos(
    count: int, pool: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(video of each row, time of each row, words (n, 4)) for ``count`` videos sampled as
    registration samples them (REGISTRATION_DENSITY per second, each frame with its mirror;
    hashes of quality >= 50 only, as the index keeps). Each shot starts from a real frame hash
    of ``pool`` with SHOT_FLIP of its bits flipped, and walks FRAME_FLIP per frame; a frame's
    mirror is another such walk (a mirrored frame's hash lies ~120 bits from the frame's)."""
    step = SAMPLE_EVERY_S / REGISTRATION_DENSITY
    pool_bits = np.unpackbits(pool.view(np.uint8), axis=1).astype(bool)  # (p, 256)
    videos, times, words = [], [], []
    for v in range(count):
        duration = rng.uniform(*DURATION_S)
        at = 0.0
        while at < duration:
            shot = min(rng.uniform(*SHOT_S), duration - at)
            frames = max(1, int(shot / step))
            for _variant in range(2):  # the frame, its mirror
                start = pool_bits[rng.integers(len(pool_bits))] ^ (rng.random(256) < SHOT_FLIP)
                walk = np.logical_xor.accumulate(rng.random((frames, 256)) < FRAME_FLIP, axis=0)
                shot_bits = start[None, :] ^ walk
                words.append(np.packbits(shot_bits, axis=1).view(np.uint64))
                times.append(at + step * np.arange(frames))
                videos.append(np.full(frames, v, dtype=np.int32))
            at += shot
    return (
        np.concatenate(videos),
        np.concatenate(times).astype(np.float32),
        np.ascontiguousarray(np.concatenate(words)),
    )


class BruteForceIndex(VideoIndex):
    """The same matching with the frame lookup done by a linear scan of every registered hash."""

    def _near(self, query: PdqHash) -> tuple[np.ndarray, np.ndarray]:
        q = np.array(query.words(), dtype=np.uint64)
        distances = np.bitwise_count(self._words ^ q).sum(axis=1)
        rows = np.flatnonzero(distances <= FRAME_MAX_DISTANCE)
        return rows, distances[rows]


def _queries() -> list[tuple[str, str | None, VideoFingerprint]]:
    """Crawled videos: re-posts of the real clip, the other clip, a slideshow of photos."""
    sources = clips()
    data = sources["moviepy_big_buck_bunny_0_30.webm"]
    rng = random.Random(SEED)
    edits = {
        "excerpt 10 s, 50%, H.264": Edit(start=7.3, length=10.0, scale=0.5, bitrate=250_000),
        "whole, mirrored, 40%, VP9": Edit(
            mirror=True, scale=0.4, codec="libvpx-vp9", bitrate=200_000
        ),
        "excerpt 5 s, 30%, 15 fps, VP8": Edit(
            start=19.1, length=5.0, scale=0.3, fps=15, codec="libvpx", bitrate=120_000
        ),
    }
    queries: list[tuple[str, str | None, VideoFingerprint]] = [
        (name, "moviepy_big_buck_bunny_0_30.webm", fingerprint_video(render(data, edit)))
        for name, edit in edits.items()
    ]
    queries.append(
        (
            "the other clip, 50%",
            "moviepy_big_buck_bunny_432_433.webm",
            fingerprint_video(
                render(sources["moviepy_big_buck_bunny_432_433.webm"], Edit(scale=0.5))
            ),
        )
    )
    photos = rng.sample(sorted(_photos_dir().iterdir()), 8)
    show = slideshow(photos, [3.0] * len(photos), "libx264", 500_000)
    queries.append(("slideshow of 8 photos, 24 s", None, fingerprint_video(show)))
    return queries


def matching_speed(count: int) -> None:
    rng = np.random.default_rng(SEED)
    sources = clips()
    registered = {n: fingerprint_video(d, registration=True) for n, d in sources.items()}
    pool = np.array(
        [h.pdq.words() for fp in registered.values() for h in fp.all_hashes],
        dtype=np.uint64,
    )
    started = time.perf_counter()
    synthetic = count - len(registered)
    video_of, at, words = synthetic_videos(synthetic, pool, rng)
    made = time.perf_counter() - started
    started = time.perf_counter()
    ours = VideoIndex()
    for name, fp in registered.items():
        ours.add_fingerprint(name, fp)
    ours.add_arrays(
        [f"synthetic-{i}" for i in range(synthetic)],
        [f"{i:032x}" for i in range(synthetic)],
        video_of,
        at,
        words,
    )
    del video_of, at, words
    ours.match(registered[next(iter(registered))])  # builds the multi-index
    built = time.perf_counter() - started
    # The same registered arrays, searched by a linear scan.
    brute = BruteForceIndex(**{f.name: getattr(ours, f.name) for f in fields(ours)})
    print(
        f"registered: {count:,} videos ({len(registered)} real, {synthetic:,} synthetic of "
        f"{DURATION_S[0]:.0f}-{DURATION_S[1]:.0f} s made from {len(pool)} real frame hashes in "
        f"{made:.0f} s), {ours.hashes:,} frame hashes (quality >= {MIN_QUALITY}); multi-index "
        f"built in {built:.1f} s, {ours.nbytes / 2**20:.0f} MiB"
    )
    queries = _queries()
    timings: dict[str, list[float]] = {"ours": [], "brute": []}
    print(f"  {'crawled video':34} {'hashes':>6} {'ours ms':>8} {'brute ms':>9}  found")
    for name, expected, fp in queries:
        row = []
        results = []
        for label, index in (("ours", ours), ("brute", brute)):
            runs = []
            for _ in range(3 if label == "ours" else 1):
                t = time.process_time()
                match = index.match_frames(fp)
                runs.append(time.process_time() - t)
            timings[label].append(min(runs))
            row.append(min(runs) * 1000)
            results.append(match)
        same = results[0].video == results[1].video and (
            results[0].frames_matched == results[1].frames_matched
        )
        verdict = "ok" if results[0].video == expected else f"WRONG ({results[0].video})"
        print(
            f"  {name:34} {len(fp.all_hashes):>6} {row[0]:>8.1f} {row[1]:>9.1f}  {verdict}"
            f"{'' if same else ' (brute force differs!)'}"
        )
    ours_ms = statistics.median(timings["ours"]) * 1000
    brute_ms = statistics.median(timings["brute"]) * 1000
    hashes = sum(len(fp.all_hashes) for _, _, fp in queries)
    print(
        f"matching per crawled video against {count:,} registered videos: {ours_ms:.1f} ms "
        f"median CPU ({1000 * sum(timings['ours']) / hashes:.1f} ms per crawled hash); brute "
        f"force {brute_ms:.0f} ms ({1000 * sum(timings['brute']) / hashes:.0f} ms per hash) -> "
        f"{brute_ms / ours_ms:.0f}x slower; process peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=REGISTERED_VIDEOS)
    args = parser.parse_args(argv)
    hashing_speed()
    matching_speed(args.videos)
    return 0


if __name__ == "__main__":
    sys.exit(main())
