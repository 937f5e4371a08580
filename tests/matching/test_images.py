"""Hash value objects, bad inputs, and every transform family against real photos."""

import io
from pathlib import Path

import pytest
from PIL import Image

from bench.photo_transforms import TRANSFORMS
from matching.hashes import PdqHash, PHash256
from matching.images import MAX_PIXELS, decode, fingerprint
from matching.photos import PhotoIndex, Tier

PHOTOS = Path(__file__).resolve().parents[1] / "data" / "photos"
REGISTERED = [
    "opencv_baboon.jpg",
    "skimage_camera.png",
    "pillow_icc_profile_big.jpg",
    "opencv_fruits.jpg",
]


@pytest.fixture(scope="module")
def index() -> PhotoIndex:
    index = PhotoIndex()
    for name in REGISTERED:
        index.add_photo(name, (PHOTOS / name).read_bytes())
    return index


# -- value objects ------------------------------------------------------------------------------


def test_hashes_round_trip_through_hex():
    h = fingerprint((PHOTOS / "opencv_baboon.jpg").read_bytes()).pdq
    assert PdqHash.from_hex(h.hex()) == h
    assert PdqHash.from_hex(str(h).upper()) == h
    assert len(h.hex()) == 64


def test_subtraction_is_the_hamming_distance():
    a = PdqHash.from_hex("0" * 64)
    b = PdqHash.from_hex("f" + "0" * 62 + "1")
    assert a - b == 5 == b - a
    assert a - a == 0


def test_hashes_of_different_kinds_do_not_compare():
    with pytest.raises(TypeError):
        _ = PdqHash.from_hex("0" * 64) - PHash256.from_hex("0" * 64)


@pytest.mark.parametrize("bad", ["", "xyz", "0" * 63, "0" * 65, "g" * 64, None])
def test_bad_hex_is_a_value_error(bad):
    with pytest.raises(ValueError, match="64 hexadecimal digits"):
        PdqHash.from_hex(bad)


def test_bad_bytes_are_a_value_error():
    with pytest.raises(ValueError, match="32 bytes"):
        PdqHash(b"\x00" * 31)


# -- bad inputs ---------------------------------------------------------------------------------


def _bomb() -> bytes:
    # A tiny PNG whose header claims 20000 x 20000 pixels: refused before any decoding.
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"<html>not an image</html>", "not an image"),
        ((PHOTOS / "opencv_messi5.jpg").read_bytes()[:5000], "truncated"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not an image"),
    ],
)
def test_unusable_bytes_raise_a_clear_value_error(data, words):
    with pytest.raises(ValueError, match=words):
        fingerprint(data)


def test_a_decompression_bomb_is_refused():
    data = _bomb()
    assert len(data) < 200_000
    assert MAX_PIXELS < 20000 * 20000
    with pytest.raises(ValueError, match=r"pixel limit|decompression bomb"):
        fingerprint(data)


def test_an_oversized_file_is_refused_before_decoding():
    with pytest.raises(ValueError, match="byte limit"):
        fingerprint(b"\xff\xd8" + b"\x00" * (31 * 1024 * 1024))


def test_exif_orientation_is_applied_before_hashing():
    image = decode((PHOTOS / "opencv_baboon.jpg").read_bytes())
    rotated = decode(TRANSFORMS["exif_orientation"](image))
    assert rotated.size == image.size


# -- transform families -------------------------------------------------------------------------


@pytest.mark.parametrize("transform", sorted(set(TRANSFORMS) - {"rotate_4deg"}))
@pytest.mark.parametrize("photo", REGISTERED)
def test_altered_copies_match_their_registered_photo(index, photo, transform):
    image = decode((PHOTOS / photo).read_bytes())
    match = index.best_match(fingerprint(TRANSFORMS[transform](image)))
    assert match.photo == photo
    assert match.tier in (Tier.STRONG, Tier.CANDIDATE)


def test_copies_saved_in_other_formats_by_others_match(index):
    hopper = PhotoIndex()
    hopper.add_photo("hopper", (PHOTOS / "pillow_hopper.jpg").read_bytes())
    match = hopper.best_match(fingerprint((PHOTOS / "pillow_hopper.webp").read_bytes()))
    assert (match.photo, match.tier) == ("hopper", Tier.STRONG)


@pytest.mark.parametrize("photo", ["opencv_messi5.jpg", "pillow_hopper.jpg"])
def test_photos_that_were_never_registered_do_not_match(index, photo):
    match = index.best_match(fingerprint((PHOTOS / photo).read_bytes()))
    assert (match.photo, match.distance, match.tier) == (None, None, None)


def test_an_empty_index_matches_nothing():
    assert (
        PhotoIndex().best_match(fingerprint((PHOTOS / "opencv_baboon.jpg").read_bytes())).photo
        is None
    )


def test_the_index_keeps_hashes_not_images(index):
    # 28 variants per photo at most, each a PDQ hash: nothing that could rebuild the photo.
    assert 0 < len(index) <= 28 * len(REGISTERED)
    assert index.photos == REGISTERED
