"""Fingerprints of images: bytes in, hashes out. Nothing is written anywhere.

PDQ (Meta's hash for this job, 256 bits, with a quality score) is the matching hash; a 256-bit
pHash is kept beside it for the record and for comparison.
"""

from __future__ import annotations

import io
import itertools
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


# -- Crawled images: the variants kept for retro-match -------------------------------------------
# A photo registered today is looked for among images crawled earlier, whose pixels are gone:
# whatever a later registration could need must be hashed at crawl time. Registration variants
# (rotations, mirrors, crops) cover a crawled image that shows LESS than the photo; these cover
# one that shows MORE (a frame, a caption band, a collage's other tiles, stickers on the edges).

# Share of the (trimmed) image kept by the centre-crop variant: it drops stickers, watermarks
# and non-uniform frames on the edges. 0.8 is also what registration's centre crops use, so a
# crawled image that is the photo plus a ~12% margin on each side lands on the registered hash.
CENTRE_KEEP = 0.8
# A seam (the edge between two tiles of a collage, or between a photo and an app's frame) is a
# line where at least SEAM_SHARE of the pixels jump by more than SEAM_STEP grey levels from the
# previous line, SEAM_CONTRAST times more of them than on the lines around it (so a textured
# area, where many pixels jump, is not cut). Measured by `make eval` (bench/eval_retro.py, seed
# 1): with these regions, retro-match finds 63% of drawn screenshot frames and 33% of collages
# (0% from the whole image alone), with 0 false positives in 18,124 pairs (nearest negative 82).
SEAM_SHARE = 0.4
SEAM_STEP = 16.0
SEAM_CONTRAST = 4.0
# Regions smaller than this share of the image, or than REGION_MIN_SIDE pixels a side, are not
# kept: a tile of a 3x3 collage with gutters is ~10%; smaller pieces are mostly avatars and text.
REGION_MIN_SHARE = 0.05
REGION_MIN_SIDE = 48
# A region whose grey levels vary less than this is a flat panel (a gutter, a blank bar).
REGION_MIN_STD = 8.0
# The search looks at the image at this size: seams are lines, they survive the downscale.
SEGMENT_SIZE = 256
SEGMENT_DEPTH = 3
# At most this many regions per image (a 3x3 collage); with the full image, the trimmed frame,
# two caption bands, the centre crop, the framed photo and a square collage's 13 grid cells, a
# crawled image is known by at most 28 hashes (mean 4.4-5.2 for plain re-posts, 10 for
# screenshots and 16 for collages in `make eval`), plus its pieces (crawled_parts).
MAX_REGIONS = 9


@dataclass(frozen=True)
class Variant:
    """One PDQ hash of a crawled image: of the whole image, or of a part of it named by ``kind``."""

    kind: str  # full, trimmed, no_top, no_bottom, centre, region, framed, tile; part
    pdq: PdqHash


@dataclass(frozen=True)
class CrawledPrint:
    fingerprint: Fingerprint
    variants: tuple[Variant, ...]


def crawled_fingerprint(data: bytes) -> CrawledPrint:
    """The fingerprint crawl-time matching uses, and the variants stored for retro-match."""
    image = decode(data)
    fp = fingerprint_image(image)
    return CrawledPrint(fp, crawled_variants(image, fp))


def _seams(grey: np.ndarray) -> list[int]:
    """Column indices x where a seam runs between column x-1 and x (see SEAM_SHARE)."""
    h, w = grey.shape
    if w < 8 or h < 8:
        return []
    share = (np.abs(np.diff(grey, axis=1)) > SEAM_STEP).mean(axis=0)  # length w-1
    seams: list[int] = []
    for i, value in enumerate(share):
        if value < SEAM_SHARE:
            continue
        around = np.concatenate([share[max(0, i - 8) : max(0, i - 1)], share[i + 2 : i + 9]])
        if around.size and value < SEAM_CONTRAST * max(float(np.median(around)), 0.02):
            continue
        x = i + 1
        if seams and x - seams[-1] <= 2:
            continue  # the two sides of one anti-aliased edge
        seams.append(x)
    return seams


def _split(grey: np.ndarray, box: tuple[int, int, int, int], depth: int) -> list[tuple[int, ...]]:
    """Recursive cuts along seams (columns first, then rows, in turns): the leaves."""
    x0, y0, x1, y1 = box
    if depth == 0:
        return [box]
    part = grey[y0:y1, x0:x1]
    for axis in (0, 1):
        cuts = _seams(part) if axis == 0 else _seams(part.T)
        if cuts:
            edges = [0, *cuts, part.shape[1] if axis == 0 else part.shape[0]]
            leaves: list[tuple[int, ...]] = []
            for a, b in itertools.pairwise(edges):
                child = (x0 + a, y0, x0 + b, y1) if axis == 0 else (x0, y0 + a, x1, y0 + b)
                leaves.extend(_split(grey, child, depth - 1))
            return leaves
    return [box]


# An app's frame (a screenshot) is mostly one flat colour around the photo, with a title bar,
# an avatar and lines of text on it; seams miss the photo's edge where it is of the frame's
# tone. The frame's colour is the commonest on the image's border (grey levels to within
# FRAME_TOLERANCE) when at least FRAME_BORDER_SHARE of the border has it; the photo is then the
# longest run of rows, and within it of columns, where at least FRAME_PHOTO_SHARE of the pixels
# differ from it (text and avatars cover less of a line; a title bar is a short run). Measured
# on seed 762125 (pixels only): a frame found in 43 of 46 drawn screenshots (36 matching alone
# within 31), 32 collages, 5 of 138 plain photos; nearest negative 90. Screenshots 65% -> 85%.
FRAME_TOLERANCE = 10
FRAME_BORDER_SHARE = 0.6
FRAME_PHOTO_SHARE = 0.5


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    best, start = (0, 0), None
    for i, flag in enumerate([*flags.tolist(), False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def framed_photo(image: Image.Image) -> Image.Image | None:
    """The photo inside an app's frame (FRAME_BORDER_SHARE), or None if there is no frame."""
    small = image.convert("L")
    small.thumbnail((SEGMENT_SIZE, SEGMENT_SIZE), Image.Resampling.BILINEAR)
    grey = np.asarray(small, dtype=np.int16)
    h, w = grey.shape
    if h < 32 or w < 32:
        return None
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    values, counts = np.unique(border // FRAME_TOLERANCE, return_counts=True)
    tone = int(values[counts.argmax()]) * FRAME_TOLERANCE + FRAME_TOLERANCE // 2
    if np.mean(np.abs(border - tone) <= FRAME_TOLERANCE) < FRAME_BORDER_SHARE:
        return None
    differs = np.abs(grey - tone) > FRAME_TOLERANCE
    y0, y1 = _longest_run(differs.mean(axis=1) >= FRAME_PHOTO_SHARE)
    if y1 - y0 < h * 0.2:
        return None
    x0, x1 = _longest_run(differs[y0:y1].mean(axis=0) >= FRAME_PHOTO_SHARE)
    if x1 - x0 < w * 0.2 or (x1 - x0) * (y1 - y0) > 0.9 * w * h:
        return None
    sx, sy = image.width / w, image.height / h
    return image.crop((round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy)))


def photo_regions(image: Image.Image) -> list[Image.Image]:
    """The photo-like parts of an image cut along seams (collage tiles, the photo inside an
    app's frame), largest first; empty if the image is one piece."""
    small = image.convert("L")
    small.thumbnail((SEGMENT_SIZE, SEGMENT_SIZE), Image.Resampling.BILINEAR)
    grey = np.asarray(small, dtype=np.float32)
    h, w = grey.shape
    # Recursive cuts find a photo inside a frame; the grid of the seams that cross the whole
    # image finds the tiles of a collage whose rows or columns are not all filled.
    columns, rows = [0, *_seams(grey), w], [0, *_seams(grey.T), h]
    grid = [
        (x0, y0, x1, y1)
        for x0, x1 in itertools.pairwise(columns)
        for y0, y1 in itertools.pairwise(rows)
    ]
    leaves = list(dict.fromkeys([*_split(grey, (0, 0, w, h), SEGMENT_DEPTH), *grid]))
    if len(leaves) < 2:
        return []
    sx, sy = image.width / w, image.height / h
    found = []
    for x0, y0, x1, y1 in leaves:
        area = (x1 - x0) * (y1 - y0)
        if area < REGION_MIN_SHARE * w * h or area >= 0.97 * w * h:
            continue
        if (x1 - x0) * sx < REGION_MIN_SIDE or (y1 - y0) * sy < REGION_MIN_SIDE:
            continue
        if float(grey[y0:y1, x0:x1].std()) < REGION_MIN_STD:
            continue
        found.append((area, (x0, y0, x1, y1)))
    found.sort(key=lambda f: -f[0])
    return [
        image.crop((round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy)))
        for _, (x0, y0, x1, y1) in found[:MAX_REGIONS]
    ]


def _centre(image: Image.Image, keep: float) -> Image.Image:
    w, h = image.size
    dx, dy = w * (1 - keep) / 2, h * (1 - keep) / 2
    return image.crop((round(dx), round(dy), round(w - dx), round(h - dy)))


def crawled_variants(image: Image.Image, fp: Fingerprint) -> tuple[Variant, ...]:
    """Every hash a crawled image is stored under, the whole image first, without repeats."""
    variants = [Variant("full", fp.pdq)]
    if fp.trimmed is not None:
        variants.append(Variant("trimmed", fp.trimmed[0]))
    variants.extend(
        Variant(kind, h) for kind, h in zip(("no_top", "no_bottom"), fp.bands, strict=False)
    )
    content = trim_borders(image) or image
    variants.append(Variant("centre", _pdq(_hash_input(_centre(content, CENTRE_KEEP)))))
    variants.extend(Variant("region", _pdq(_hash_input(r))) for r in photo_regions(image))
    framed = framed_photo(image)
    if framed is not None:
        variants.append(Variant("framed", _pdq(_hash_input(framed))))
    variants.extend(Variant("tile", h) for h in _tile_hashes(collage_tiles(image)))
    variants.extend(crawled_parts(image))
    seen: set[PdqHash] = set()
    unique = []
    for v in variants:
        if v.pdq not in seen:
            seen.add(v.pdq)
            unique.append(v)
    return tuple(unique)


# -- Registered photos: extra hashes for retro-match ------------------------------------------
# At registration the photo is in memory once; these hashes are looked up in the crawled-image
# index beside the registration hashes (they are not kept: crawl-time matching has the pixels
# and its own stages). Each covers an alteration the 28 registration hashes miss in `make eval`.
# One-sided crops: 3-25% cut from one to four sides; the registration crops are centred or
# corner crops of 10-20%, which one-sided cuts of 15% or more leave 32+ bits away.
SIDE_CROPS = (0.12, 0.22)
# Small rotations (harassers straighten or tilt a photo): PDQ drifts ~6-8 bits per degree, so a
# hash every 3 degrees keeps any angle of 1-10 degrees within 1.5 degrees of one of them.
ROTATIONS = (-9.0, -6.0, -3.0, 3.0, 6.0, 9.0)


def _upright_box(image: Image.Image, angle: float) -> Image.Image:
    """The photo rotated by ``angle`` degrees, cropped to the largest box without corners."""
    rotated = image.rotate(angle, resample=Image.Resampling.BILINEAR)
    w, h = rotated.size
    a = np.radians(abs(angle))
    keep = 1 / (np.cos(a) + np.sin(a) * max(w / h, h / w))
    return _centre(rotated, float(keep))


def retro_query_hashes(image: Image.Image) -> list[PdqHash]:
    """Hashes of a registered photo that only retro-match looks up: one-sided crops, the square
    centre (a collage's tile), small rotations."""
    small = _hash_input(image)
    w, h = small.size
    crops = []
    for share in SIDE_CROPS:
        dx, dy = round(w * share), round(h * share)
        crops += [(dx, 0, w, h), (0, 0, w - dx, h), (0, dy, w, h), (0, 0, w, h - dy)]
    side = min(w, h)
    crops.append(((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side))
    pieces = [small.crop(box) for box in crops] + [_upright_box(small, a) for a in ROTATIONS]
    # Not mirrored: a mirrored AND cropped or tilted re-post is rarer, and each hash costs
    # ~2.5 ms of lookup against 1,000,000 crawled images (bench/bench_retro.py).
    return list(dict.fromkeys(_pdq(piece) for piece in pieces))


# -- Parts: hashes of pieces of a picture, kept on both sides -------------------------------------
# Every PDQ above hashes the whole frame, and a change anywhere in it moves the hash: stickers
# over 5-25% of a photo left 83% of such copies out of reach (`make eval`). A piece of the photo
# that no sticker touches hashes the same on both sides, so a crawled image also keeps the PDQ of
# its quadrants, halves and centre (kind "part"), and registration looks up the same pieces of
# the registered photo (retro_part_hashes). Measured on the 46 real photos x 8 drawn families
# (seeds 762125 and 11, pixels only): pieces found 80-85% of stickered copies within 24 (median
# distance 2); the nearest negative piece was 82. (Crops of the crawled image in the
# registration's geometry, compared with all registration hashes, found 2-3.5% more copies
# overall but cost +20 ms per lookup against 1,000,000 images: not kept, see ADR 0024.)
#
# Pieces are hashed from a copy at most this many pixels a side: a quadrant of it is 128 px, as
# much as PDQ's 64x64 downsample uses, and PDQ of 256 px costs 0.3 ms against 4.9 ms at 512.
PART_INPUT = 256
# Pieces as (left, top, right, bottom) shares of the frame: four quadrants, four halves, centre.
PART_BOXES = (
    (0.0, 0.0, 0.5, 0.5),
    (0.5, 0.0, 1.0, 0.5),
    (0.0, 0.5, 0.5, 1.0),
    (0.5, 0.5, 1.0, 1.0),
    (0.0, 0.0, 0.5, 1.0),
    (0.5, 0.0, 1.0, 1.0),
    (0.0, 0.0, 1.0, 0.5),
    (0.0, 0.5, 1.0, 1.0),
    (0.25, 0.25, 0.75, 0.75),
)
# A piece whose PDQ quality is below this (Meta's floor for a hash that says something: a
# patch of sky, a wall, a blank band) is not kept on either side: flat pieces of two different
# photos hash alike.
PART_MIN_QUALITY = 50
# Collage apps lay photos out on a uniform grid of square-cropped tiles; seams (SEAM_SHARE)
# between tiles of similar tones, or with no gutter, are often too faint for photo_regions. A
# crawled image whose shape is a grid's (COLLAGE_GRIDS, columns x rows of squares, within
# COLLAGE_RATIO_TOLERANCE) and that shows an edge near every line of that grid (at least
# GRID_EDGE_SHARE of the pixels jumping by SEAM_STEP, within GRID_EDGE_WINDOW of the side) is
# also kept cell by cell, each cell without its flat gutter (kind "tile": like a region,
# looked up with one-bit neighbours up to 31 against the registration's hashes, among them the
# square centre a tile is cut to). Measured on seed 762125 (pixels only): collages found 37% ->
# 93%, nearest negative 66 over 46 x 140 pairs; 5 of 356 other images had a grid (13 cells).
COLLAGE_GRIDS = ((2, 1), (1, 2), (2, 2), (3, 2), (2, 3), (3, 3))
COLLAGE_RATIO_TOLERANCE = 0.04
GRID_EDGE_SHARE = 0.3
GRID_EDGE_WINDOW = 0.03
# A gutter line is flatter than this (grey standard deviation); a tile keeps at least half its
# side once gutters are peeled.
GUTTER_FLATNESS = 6.0
# Kinds of crawled hashes that are looked up exactly (see hits.images) with their own radius.
PART_KINDS = ("part",)


def _pieces(
    image: Image.Image, boxes: tuple[tuple[float, float, float, float], ...]
) -> list[PdqHash]:
    small = image.copy()
    # No reducing gap (a box reduction before the resize): the victim's browser resizes as
    # Pillow's resize does (portal/static/portal/pdq.js), so both sides cut the same pieces.
    small.thumbnail((PART_INPUT, PART_INPUT), Image.Resampling.BILINEAR, reducing_gap=None)
    w, h = small.size
    out = []
    for x0, y0, x1, y1 in boxes:
        piece = small.crop((round(w * x0), round(h * y0), round(w * x1), round(h * y1)))
        if piece.width < 8 or piece.height < 8:
            continue
        bits, quality = pdqhash.compute(np.asarray(piece))
        if quality >= PART_MIN_QUALITY:
            out.append(PdqHash.from_bits(bits))
    return out


def _tile_hashes(tiles: list[Image.Image]) -> list[PdqHash]:
    """PDQ of each tile at up to HASH_INPUT_MAX (a 3x3 collage's tile is small already; at
    PART_INPUT it lost 10-90 bits in the measure above), flat ones (an empty cell) left out."""
    found = []
    for tile in tiles:
        bits, quality = pdqhash.compute(np.asarray(_hash_input(tile)))
        if quality >= PART_MIN_QUALITY:
            found.append(PdqHash.from_bits(bits))
    return found


def _edge_near(share: np.ndarray, at: int, window: int) -> bool:
    lo, hi = max(0, at - window), min(len(share), at + window + 1)
    return lo < hi and float(share[lo:hi].max()) >= GRID_EDGE_SHARE


def _peel_gutters(cell: np.ndarray) -> tuple[int, int, int, int]:
    """The box of ``cell`` (grey) without flat lines on its sides."""
    h, w = cell.shape

    def flat(lines: np.ndarray) -> int:
        n = 0
        for line in lines:
            if line.std() >= GUTTER_FLATNESS:
                break
            n += 1
        return n

    t, b, left, r = flat(cell), flat(cell[::-1]), flat(cell.T), flat(cell.T[::-1])
    if w - left - r < w * 0.5 or h - t - b < h * 0.5:
        return 0, 0, w, h
    return left, t, w - r, h - b


def collage_tiles(image: Image.Image) -> list[Image.Image]:
    """The cells of the collage grid the image is laid out on (COLLAGE_GRIDS), or none."""
    small = image.convert("L")
    small.thumbnail((SEGMENT_SIZE, SEGMENT_SIZE), Image.Resampling.BILINEAR)
    grey = np.asarray(small, dtype=np.float32)
    h, w = grey.shape
    if w < 32 or h < 32:
        return []
    columns = (np.abs(np.diff(grey, axis=1)) > SEAM_STEP).mean(axis=0)
    rows = (np.abs(np.diff(grey, axis=0)) > SEAM_STEP).mean(axis=1)
    sx, sy = image.width / w, image.height / h
    tiles = []
    for cols, nrows in COLLAGE_GRIDS:
        if abs((w / h) / (cols / nrows) - 1) > COLLAGE_RATIO_TOLERANCE:
            continue
        xs = [round(w * i / cols) for i in range(cols + 1)]
        ys = [round(h * j / nrows) for j in range(nrows + 1)]
        if not all(_edge_near(columns, x - 1, round(w * GRID_EDGE_WINDOW)) for x in xs[1:-1]):
            continue
        if not all(_edge_near(rows, y - 1, round(h * GRID_EDGE_WINDOW)) for y in ys[1:-1]):
            continue
        for x0, x1 in itertools.pairwise(xs):
            for y0, y1 in itertools.pairwise(ys):
                left, top, right, bottom = _peel_gutters(grey[y0:y1, x0:x1])
                box = (x0 + left, y0 + top, x0 + right, y0 + bottom)
                x0s, y0s, x1s, y1s = box
                tiles.append(
                    image.crop((round(x0s * sx), round(y0s * sy), round(x1s * sx), round(y1s * sy)))
                )
    return tiles


def retro_part_hashes(image: Image.Image) -> list[PdqHash]:
    """The registered photo's pieces (PART_BOXES), looked up once among crawled images' pieces."""
    return list(dict.fromkeys(_pieces(image, PART_BOXES)))


def crawled_parts(image: Image.Image) -> tuple[Variant, ...]:
    """The crawled image's pieces (PART_BOXES), of its trimmed frame."""
    content = trim_borders(image) or image
    return tuple(Variant("part", h) for h in _pieces(content, PART_BOXES))
