"""Fingerprints of images: bytes in, hashes out. Nothing is written anywhere.

PDQ (Meta's hash for this job, 256 bits, with a quality score) is the matching hash; a 256-bit
pHash is kept beside it for the record and for comparison.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import imagehash
import numpy as np
import pdqhash
from PIL import Image, ImageOps, UnidentifiedImageError

from matching.hashes import PdqHash, PHash256

# Bytes and pixels beyond which an image is refused before decoding: a web photo is a few MB
# and a few megapixels; anything far beyond is an accident or a decompression bomb.
MAX_IMAGE_BYTES = 30 * 1024 * 1024
MAX_PIXELS = 80_000_000
# JPEGs are decoded at reduced size (Pillow's draft mode): PDQ looks at 64x64 blocks anyway.
DECODE_SIZE = (1024, 1024)
# PDQ itself downsamples; feeding it at most this many pixels a side keeps it fast.
HASH_INPUT_MAX = 512
# pHash (kept for the record) is computed from at most this many pixels a side.
PHASH_INPUT = 128
# Borders (letterboxing, screenshot frames) thinner than this share of a side are left alone.
MIN_BORDER = 0.02
# A row or column whose grey levels vary less than this (standard deviation, 0-255) is flat:
# letterbox bars and frames are, even after JPEG; a clear sky measures about 3.
BORDER_FLATNESS = 2.5
# Largest difference of mean grey level between a border line and the side's first line.
BORDER_STEP = 12.0
# Captions are written in a band at the top or the bottom; this share of the height is left
# out of the band variants.
CAPTION_BAND = 0.15


@dataclass(frozen=True)
class Fingerprint:
    pdq: PdqHash
    quality: int
    phash: PHash256
    width: int
    height: int
    # The same hashes of the image with uniform borders trimmed, when it had any.
    trimmed: tuple[PdqHash, PHash256] | None = None
    # PDQ of the image without its top band and without its bottom band (captions).
    bands: tuple[PdqHash, ...] = ()

    @property
    def pdq_variants(self) -> tuple[PdqHash, ...]:
        extra = () if self.trimmed is None else (self.trimmed[0],)
        return (self.pdq, *extra, *self.bands)


def decode(data: bytes) -> Image.Image:
    """Decode image bytes, EXIF orientation applied, or raise a ValueError saying why not."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ValueError("image data must be bytes")
    if len(data) == 0:
        raise ValueError("empty image data")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(
            f"image of {len(data)} bytes is larger than the {MAX_IMAGE_BYTES}-byte limit"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
            if image.width * image.height > MAX_PIXELS:
                raise ValueError(
                    f"image of {image.width}x{image.height} pixels exceeds the {MAX_PIXELS}-pixel limit (decompression bomb?)"
                )
            image.draft("RGB", DECODE_SIZE)
            image.load()
    except UnidentifiedImageError:
        raise ValueError("not an image (unknown or unsupported format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"image refused as a decompression bomb: {exc}") from None
    except (OSError, SyntaxError, EOFError) as exc:
        raise ValueError(f"truncated or corrupt image: {exc}") from None
    transposed = ImageOps.exif_transpose(image)
    return (transposed if transposed is not None else image).convert("RGB")


def _hash_input(image: Image.Image) -> Image.Image:
    if max(image.size) > HASH_INPUT_MAX:
        image = image.copy()
        image.thumbnail((HASH_INPUT_MAX, HASH_INPUT_MAX), Image.Resampling.BILINEAR)
    return image


def hashes_of(image: Image.Image) -> tuple[PdqHash, int, PHash256]:
    small = _hash_input(image)
    bits, quality = pdqhash.compute(np.asarray(small))
    # pHash resizes to 64x64 with Lanczos itself; from 512 px that costs 22 ms, three times
    # PDQ. A bilinear step to PHASH_INPUT first brings it under 1 ms.
    grey = small.convert("L")
    grey.thumbnail((PHASH_INPUT, PHASH_INPUT), Image.Resampling.BILINEAR)
    phash = imagehash.phash(grey, hash_size=16)
    return PdqHash.from_bits(bits), int(quality), PHash256.from_bits(phash.hash)


def trim_borders(image: Image.Image) -> Image.Image | None:
    """The image without uniform borders (letterbox bars, screenshot frames and title bars), or
    None if it has none.

    Each side is peeled line by line while the line is flat and of the colour of the side's
    first line (so a flat sky inside the photo is kept); sides are peeled in turns, because a
    frame's columns are only flat once its title bar is gone.
    """
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    h, w = grey.shape
    if h < 16 or w < 16:
        return None
    top, bottom, left, right = 0, h, 0, w

    def peel(lines: np.ndarray) -> int:
        n, edge = 0, None
        for line in lines:
            mean = float(line.mean())
            if line.std() >= BORDER_FLATNESS or (
                edge is not None and abs(mean - edge) > BORDER_STEP
            ):
                break
            n, edge = n + 1, mean if edge is None else edge
        return n

    def rows(box: np.ndarray) -> tuple[int, int]:
        return peel(box), peel(box[::-1])

    t, b = rows(grey)
    top, bottom = t, h - b
    if bottom - top < h * 0.3:
        return None
    side_left, side_right = rows(grey[top:bottom].T)
    left, right = side_left, w - side_right
    if right - left < w * 0.3:
        return None
    if side_left or side_right:
        # Only once the side frames are gone do the frame's own top and bottom lines look flat.
        t, b = rows(grey[top:bottom, left:right])
        top, bottom = top + t, bottom - b
    if max(top / h, (h - bottom) / h, left / w, (w - right) / w) < MIN_BORDER:
        return None
    if (right - left) < w * 0.3 or (bottom - top) < h * 0.3:
        return None
    return image.crop((left, top, right, bottom))


def _bands(image: Image.Image) -> list[Image.Image]:
    """The image without its top or bottom band, where captions are written."""
    w, h = image.size
    keep = int(h * (1 - CAPTION_BAND))
    return [image.crop((0, 0, w, keep)), image.crop((0, h - keep, w, h))]


def fingerprint(data: bytes) -> Fingerprint:
    image = decode(data)
    return fingerprint_image(image)


def fingerprint_image(image: Image.Image) -> Fingerprint:
    pdq, quality, phash = hashes_of(image)
    trimmed_image = trim_borders(image)
    trimmed = None
    if trimmed_image is not None:
        tpdq, _, tphash = hashes_of(trimmed_image)
        trimmed = (tpdq, tphash)
    content = trimmed_image or image
    bands = tuple(_pdq(_hash_input(band)) for band in _bands(content))
    return Fingerprint(pdq, quality, phash, image.width, image.height, trimmed, bands)


_DIHEDRAL = (
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)


def _pdq(image: Image.Image) -> PdqHash:
    bits, _ = pdqhash.compute(np.asarray(image))
    return PdqHash.from_bits(bits)


def registration_hashes(image: Image.Image) -> list[PdqHash]:
    """The PDQ hashes a registered photo is known by: its 8 rotations and mirrors, and crops.

    Re-posts are often rotated, mirrored or cropped; matching a query against these variants
    costs nothing at query time.
    """
    small = _hash_input(image)
    # Real pixel transforms: PDQ's own dihedral shortcut lands 28-48 bits away from the hash of
    # an actually rotated image (measured on the baboon photo), too far to rely on.
    variants = [_pdq(small)] + [_pdq(small.transpose(t)) for t in _DIHEDRAL]
    w, h = image.size
    boxes = []
    for keep in (0.9, 0.8):
        dx, dy = w * (1 - keep) / 2, h * (1 - keep) / 2
        boxes.append((dx, dy, w - dx, h - dy))
    for fx, fy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        cw, ch = w * 0.85, h * 0.85
        x0, y0 = fx * (w - cw), fy * (h - ch)
        boxes.append((x0, y0, x0 + cw, y0 + ch))
    crops = [image.crop((round(x0), round(y0), round(x1), round(y1))) for x0, y0, x1, y1 in boxes]
    for crop in [*crops, *_bands(image)]:
        for candidate in (crop, ImageOps.mirror(crop)):
            variants.append(_pdq(_hash_input(candidate)))
    return list(dict.fromkeys(variants))
