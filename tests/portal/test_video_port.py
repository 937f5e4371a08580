"""The victim space's video fingerprint (portal/static/portal/video.js) run in real Chromium on a
video longer than 10 minutes, where the server's registration samples frames at scene changes
as well as on its time grid (matching.videos._sample): her browser must sample the same frames.

Measured on an 11-minute cut of the real clip (192x108, 8 fps, a new scene every 1.7-5 s):
2,399 of the server's 2,400 frame times, 18 of its 19 scene-change frames, PDQ within 31 for
99.8% of frames, 120 of 120 keyframe tags. Without the cut search none is found."""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest
from av.container import InputContainer
from playwright.sync_api import Browser, Page

from config.environment import BASE_DIR
from matching import videos as mv
from matching.hashes import PdqHash
from tests.portal.conftest import scripts_page
from tests.video_clips import original

pytestmark = [pytest.mark.browser]

SCRIPTS = [
    BASE_DIR / "portal" / "static" / "portal" / n
    for n in ("md5.js", "pdq.js", "sift.js", "video.js")
]
_IN_BROWSER = """async ({data}) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const file = new File([bytes], "long.webm", {type: "video/webm"});
  return await BodyguardVideo.fingerprint(file, {keyframes: false});
}"""


@pytest.fixture(scope="module")
def video_page(browser: Browser) -> Iterator[Page]:
    with scripts_page(browser, "video", SCRIPTS) as opened:
        yield opened


def _scenes(seconds: int = 660, fps: int = 8, size: tuple[int, int] = (96, 54)) -> bytes:
    """Scenes of 1-3 s cut from the real clip, one after the other (VP8, in memory): longer
    than 10 minutes, so that registration samples fewer than 4 frames a second."""
    source = av.open(io.BytesIO(original()))
    assert isinstance(source, InputContainer)
    with source:
        frames = [
            f.to_ndarray(format="rgb24", width=size[0], height=size[1])
            for f in source.decode(video=0)
        ]
    rng = random.Random(20261205)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt, stream.bit_rate = "yuv420p", 100_000
        stream.options = {"deadline": "good", "cpu-used": "5", "threads": "1"}
        n = 0
        while n < seconds * fps:
            length = rng.randint(fps, 3 * fps)
            start = rng.randrange(0, len(frames) - 3 * length)
            for k in range(min(length, seconds * fps - n)):
                frame = av.VideoFrame.from_ndarray(frames[start + 3 * k], format="rgb24")
                frame.pts, frame.time_base = n, Fraction(1, fps)
                for packet in stream.encode(frame):
                    out.mux(packet)
                n += 1
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def _times(data: bytes) -> list[float]:
    return [round(s.at, 3) for s in mv._sample(data, registration=True)[0]]


def test_a_long_videos_scene_changes_are_sampled_as_the_server_does(
    video_page: Page, monkeypatch: Any
) -> None:
    data = _scenes()
    server = _times(data)
    monkeypatch.setattr(mv, "SCENE_CHANGE", float("inf"))
    scene = set(server) - set(_times(data))
    monkeypatch.undo()
    every, _ = mv._sampling(660.0, registration=True)
    assert every > mv.MIN_SAMPLE_GAP_S and len(scene) >= 10, (every, len(scene))

    sent = video_page.evaluate(_IN_BROWSER, {"data": base64.b64encode(data).decode()})
    browser = [row[0] for row in sent["frames"]]
    same = len(set(browser) & set(server))
    found = len(set(browser) & scene)
    print(f"{same}/{len(server)} frame times equal, {found}/{len(scene)} scene-change frames")
    assert len(browser) == len(server)
    assert same >= 0.99 * len(server)
    assert found >= 0.8 * len(scene)
    # And they are hashed: within PDQ 31 of the server's frame at the same time.
    fp = mv.fingerprint_video(data, registration=True)
    mine = {row[0]: row[1] for row in sent["frames"]}
    near = [
        PdqHash.from_hex(mine[round(f.at, 3)]) - f.pdq for f in fp.frames if round(f.at, 3) in mine
    ]
    assert np.mean(np.array(near) <= mv.FRAME_MAX_DISTANCE) >= 0.95
