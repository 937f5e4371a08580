"""The JavaScript PDQ of the victim space (portal/static/portal/pdq.js), run in real Chromium,
against Meta's reference hashes and against the server's `pdqhash` on the same real photos.

Distance <= 10 is Meta's own tolerance for ports of PDQ (different decoders and resizers).
"""

from __future__ import annotations

import base64
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance, ImageFilter
from playwright.sync_api import Browser, Page

from config.environment import BASE_DIR
from matching.hashes import PdqHash
from matching.images import (
    decode,
    hashes_of,
    registration_hashes,
    retro_part_hashes,
    retro_query_hashes,
)
from tests.conftest import DATA
from tests.portal.conftest import scripts_page

pytestmark = [pytest.mark.browser]

PDQ_JS = BASE_DIR / "portal" / "static" / "portal" / "pdq.js"
PDQ_DATA = DATA / "pdq"
TOLERANCE = 10

# pdq/python/README.md of facebook/ThreatExchange (tests/data/pdq/SOURCES.md): hash, quality.
PYTHON_REFERENCE = {
    "aaa-orig": "d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22",
    "blur-a-lot": "d8f8f0cce0f4e84f0637022a028f67f0b36e2ed596623e1d33e6b39c4e9c9b22",
    "high-contrast": "d8f8f0cce0f4e84d06370a32068f67f0b36e2ed596623e1d33e6339c4e9c9b22",
    "sharpen-a-lot": "d0f8f1cec0f4a8470a370a32238f67f0b36e2ef597231e1d72a6a39c4e9c9b22",
    "shrink-a-lot": "d0f8f1ccc0f4a84d0a370a3a228f67f0b36e2ed5b6623e1d33e6339c4e9c9b22",
    "square-128x128": "d8f8f1eec0f4a84f0e37022a078f63f0b36e2ed596621e1d33e6239c4e9c9b22",
    "square-256x256": "d8f8f0cec4f4a84f0637022a078f67f0b36e2ee5b6621e1d33e6239c4e9c9b22",
    "square-512x512": "d8f8f0cec0f4a84f0637022a278f67f0b36e2ed596621e1d33e6339c4e9c9b22",
}
# pdq/cpp/bin/README.md (pdq-photo-hasher on reg_test/input/dih).
CPP_REFERENCE = {
    "bridge-1-original": "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22",
    "bridge-2-rotate-90": "b0a10efd71cc3f429413d48d0ffffe12e34e0e17ada952a9d29684210aa9e5af",
    "bridge-6-flipy": "8dad2599b1a1bd1853625f6553da32a1e63b7280c2374b4866b366c91bc9ce77",
    "bridge-8-flip-minus-1": "a5f05ba8a4896a17c106a3da5aaaab07b61b5b42f8fc07fc83c3d0740bfcb0fa",
}
# The reference's own dihedral variants of the original, in the order of the server's (and
# pdq.js's) registration variants: [as is, FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM, ROTATE_90 (Pillow:
# counter-clockwise), ROTATE_180, ROTATE_270, TRANSPOSE, TRANSVERSE].
CPP_DIHEDRAL = {
    "bridge-1-original": 0,
    "bridge-6-flipy": 1,  # mirrored about the vertical axis: Pillow's FLIP_LEFT_RIGHT
    "bridge-2-rotate-90": 3,
    "bridge-8-flip-minus-1": 7,
}
SERVER_PHOTOS = [
    *sorted((DATA / "photos").glob("*.jpg")),
    *sorted((DATA / "photos").glob("*.png")),
    PDQ_DATA / "bridge-mods-aaa-orig.jpg",
    PDQ_DATA / "dih-bridge-2-rotate-90.jpg",
    PDQ_DATA / "bridge-mods-square-128x128.jpg",
    # A phone photo: 4032x3024 (Pillow's JPEG draft mode on the server), EXIF orientation 6.
    PDQ_DATA / "exif-rotn-6.jpg",
]


def test_the_ports_quality_is_the_servers_on_a_dull_picture(pdq_page: Page, tmp_path: Path) -> None:
    """Real photos score 100; a blurred, washed-out copy scores low, as on the server."""
    dull = Image.open(DATA / "photos" / "opencv_fruits.jpg").convert("RGB")
    dull = ImageEnhance.Contrast(dull.filter(ImageFilter.GaussianBlur(3))).enhance(0.3)
    path = tmp_path / "dull.png"
    dull.save(path)
    server, quality, _ = hashes_of(decode(path.read_bytes()))
    result = in_browser(pdq_page, path, "small")
    assert 20 < quality < 80 and abs(result["quality"] - quality) <= 1, (result["quality"], quality)
    assert distance(result["hash"], server.hex()) <= TOLERANCE


def distance(a: str, b: str) -> int:
    return PdqHash.from_hex(a) - PdqHash.from_hex(b)


_IN_BROWSER = """async ({data, mode}) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const image = await BodyguardPDQ.decode(new Blob([bytes]));
  if (mode === "full") { return BodyguardPDQ.pdqOfImage(image); }
  if (mode === "small") { return BodyguardPDQ.pdqOfImage(BodyguardPDQ.hashInput(image)); }
  if (mode === "retro") { return BodyguardPDQ.retroQueryHashes(image); }
  if (mode === "parts") { return BodyguardPDQ.retroPartHashes(image); }
  return BodyguardPDQ.registrationHashes(image);
}"""


@pytest.fixture(scope="module")
def pdq_page(browser: Browser) -> Iterator[Page]:
    with scripts_page(browser, "pdq", [PDQ_JS]) as page:
        yield page


def in_browser(page: Page, path: Path, mode: str) -> Any:
    data = base64.b64encode(path.read_bytes()).decode()
    return page.evaluate(_IN_BROWSER, {"data": data, "mode": mode})


def test_the_port_hashes_as_metas_reference_does(pdq_page: Page) -> None:
    """Meta's hashers (pdqhashing's PDQHasher.fromFile) shrink a photo to at most 512 pixels a
    side before hashing, as the server does: so does the port here ("small")."""
    distances = {}
    for name, expected in PYTHON_REFERENCE.items():
        result = in_browser(pdq_page, PDQ_DATA / f"bridge-mods-{name}.jpg", "small")
        distances[name] = distance(result["hash"], expected)
        assert result["quality"] == 100, (name, result)
    for name, expected in CPP_REFERENCE.items():
        result = in_browser(pdq_page, PDQ_DATA / f"dih-{name}.jpg", "small")
        distances[name] = distance(result["hash"], expected)
    print("JS vs Meta:", distances, "max", max(distances.values()), "mean",
          round(statistics.mean(distances.values()), 2))  # fmt: skip
    assert max(distances.values()) <= TOLERANCE, distances


def test_the_ports_rotations_and_mirrors_are_metas(pdq_page: Page) -> None:
    """The dihedral variants computed from the original land on the reference hashes of the
    actually rotated and mirrored files."""
    variants = in_browser(pdq_page, PDQ_DATA / "dih-bridge-1-original.jpg", "registration")
    found = {
        name: distance(variants["hashes"][index], CPP_REFERENCE[name])
        for name, index in CPP_DIHEDRAL.items()
    }
    assert max(found.values()) <= TOLERANCE, found


@pytest.mark.parametrize("path", SERVER_PHOTOS, ids=lambda p: p.name)
def test_the_port_hashes_as_the_server_does(pdq_page: Page, path: Path) -> None:
    image = decode(path.read_bytes())
    server, quality, _ = hashes_of(image)
    result = in_browser(pdq_page, path, "small")
    print(path.name, "JS vs server pdqhash:", distance(result["hash"], server.hex()),
          "quality", result["quality"], quality)  # fmt: skip
    assert distance(result["hash"], server.hex()) <= TOLERANCE, (result, server.hex())
    assert abs(result["quality"] - quality) <= 5, (result["quality"], quality)


@pytest.mark.parametrize("path", SERVER_PHOTOS, ids=lambda p: p.name)
def test_the_registration_variants_are_the_servers(pdq_page: Page, path: Path) -> None:
    server = [h.hex() for h in registration_hashes(decode(path.read_bytes()))]
    browser = in_browser(pdq_page, path, "registration")["hashes"]
    assert len(browser) == len(server)
    distances = [distance(a, b) for a, b in zip(browser, server, strict=True)]
    print(path.name, "registration variants JS vs server: max", max(distances), "mean",
          round(statistics.mean(distances), 2))  # fmt: skip
    assert max(distances) <= TOLERANCE, distances


@pytest.mark.parametrize("path", SERVER_PHOTOS, ids=lambda p: p.name)
def test_the_retro_match_hashes_are_the_servers(pdq_page: Page, path: Path) -> None:
    """One-sided crops, the square centre, small rotations: looked up once at registration."""
    server = [h.hex() for h in retro_query_hashes(decode(path.read_bytes()))]
    browser = in_browser(pdq_page, path, "retro")
    assert len(browser) == len(server)
    distances = [distance(a, b) for a, b in zip(browser, server, strict=True)]
    print(path.name, "retro-match hashes JS vs server: max", max(distances), "mean",
          round(statistics.mean(distances), 2))  # fmt: skip
    assert max(distances) <= TOLERANCE, distances


@pytest.mark.parametrize("path", SERVER_PHOTOS, ids=lambda p: p.name)
def test_the_pieces_looked_up_at_registration_are_the_servers(pdq_page: Page, path: Path) -> None:
    """Quadrants, halves and centre: compared with crawled images' pieces (stickered copies)."""
    server = [h.hex() for h in retro_part_hashes(decode(path.read_bytes()))]
    browser = in_browser(pdq_page, path, "parts")
    assert server and len(browser) == len(server)
    distances = [distance(a, b) for a, b in zip(browser, server, strict=True)]
    assert max(distances) <= TOLERANCE, distances
