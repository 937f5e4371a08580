"""The alterations harassers apply to re-posted photos, for `make eval` and the tests.

:data:`TRANSFORMS` are fixed, lossless-in-geometry edits (re-encoding, resizing, quarter turns,
colour). :data:`FAMILIES` are the alterations whose parameters are drawn at random from a range
(crop, small rotation, caption, screenshot frame, collage, stickers, filters, blur): the eval
draws new values on every run with a printed seed, so no registration variant can be fitted to
them. None of the drawn ranges is centred on what registration uses (5%/10%/15% crops).
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Transform = Callable[[Image.Image], bytes]
Family = Callable[[Image.Image, random.Random], bytes]


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _resize(image: Image.Image, factor: float) -> Image.Image:
    w, h = image.size
    return image.resize(
        (max(8, int(w * factor)), max(8, int(h * factor))), Image.Resampling.LANCZOS
    )


def _exif_rotated(image: Image.Image) -> bytes:
    """Pixels stored rotated with an EXIF tag saying how to turn them upright (as phones do)."""
    stored = image.transpose(Image.Transpose.ROTATE_90)  # orientation 6 undoes this
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    stored.convert("RGB").save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


TRANSFORMS: dict[str, Transform] = {
    "jpeg_q50": lambda im: _jpeg(im, 50),
    "jpeg_q75": lambda im: _jpeg(im, 75),
    "resize_50": lambda im: _jpeg(_resize(im, 0.5)),
    "resize_25": lambda im: _jpeg(_resize(im, 0.25)),
    "mirror": lambda im: _jpeg(ImageOps.mirror(im)),
    "rotate_90": lambda im: _jpeg(im.transpose(Image.Transpose.ROTATE_90)),
    "rotate_180": lambda im: _jpeg(im.transpose(Image.Transpose.ROTATE_180)),
    "rotate_270": lambda im: _jpeg(im.transpose(Image.Transpose.ROTATE_270)),
    "greyscale": lambda im: _jpeg(ImageOps.grayscale(im)),
    "brightness_+20": lambda im: _jpeg(ImageEnhance.Brightness(im).enhance(1.2)),
    "brightness_-20": lambda im: _jpeg(ImageEnhance.Brightness(im).enhance(0.8)),
    "exif_orientation": _exif_rotated,
}

# -- drawn families -----------------------------------------------------------------------------

_WORDS = (
    "regardez qui c'est lol",
    "elle se reconnaîtra",
    "la honte",
    "balance ton",
    "qui la connaît ?",
    "MDR",
    "envoyez en mp",
    "je vous ai prévenus",
    "ptdr la tête",
    "partagez un max",
)


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _crop(image: Image.Image, rng: random.Random) -> bytes:
    """3-25% removed from one to four sides, each side its own share."""
    w, h = image.size
    sides = rng.sample(("left", "top", "right", "bottom"), rng.randint(1, 4))
    share = {
        "l": rng.uniform(0.03, 0.25) if "left" in sides else 0.0,
        "t": rng.uniform(0.03, 0.25) if "top" in sides else 0.0,
        "r": rng.uniform(0.03, 0.25) if "right" in sides else 0.0,
        "b": rng.uniform(0.03, 0.25) if "bottom" in sides else 0.0,
    }
    box = (
        int(w * share["l"]),
        int(h * share["t"]),
        int(w * (1 - share["r"])),
        int(h * (1 - share["b"])),
    )
    return _jpeg(image.crop(box), rng.randint(70, 92))


def _rotate(image: Image.Image, rng: random.Random) -> bytes:
    """±1-10 degrees, then either kept with its corners or cropped to the largest upright box."""
    angle = rng.uniform(1, 10) * rng.choice((-1, 1))
    rotated = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=rng.random() < 0.5)
    if rng.random() < 0.6:
        w, h = rotated.size
        a = math.radians(abs(angle))
        # Shrinking by this much removes the black corners of a rotation by ``a``.
        keep = 1 / (math.cos(a) + math.sin(a) * max(w / h, h / w))
        cw, ch = w * keep, h * keep
        x0, y0 = (w - cw) / 2, (h - ch) / 2
        rotated = rotated.crop((int(x0), int(y0), int(x0 + cw), int(y0 + ch)))
    return _jpeg(rotated, rng.randint(70, 92))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _caption(image: Image.Image, rng: random.Random) -> bytes:
    """A meme caption: a band of random height above or below the photo, or text over it."""
    w, h = image.size
    text = rng.choice(_WORDS)
    if rng.random() < 0.6:
        band = int(h * rng.uniform(0.08, 0.35))
        background = rng.choice(((255, 255, 255), (0, 0, 0), _colour(rng)))
        canvas = Image.new("RGB", (w, h + band), background)
        on_top = rng.random() < 0.7
        canvas.paste(image, (0, band if on_top else 0))
        size = max(10, int(band * rng.uniform(0.3, 0.6)))
        ink = (0, 0, 0) if sum(background) > 380 else (255, 255, 255)
        y = (0 if on_top else h) + (band - size) // 2
        ImageDraw.Draw(canvas).text((w // 20, y), text, font=_font(size), fill=ink)
        return _jpeg(canvas, rng.randint(70, 92))
    out = image.copy()
    draw = ImageDraw.Draw(out)
    size = max(12, int(h * rng.uniform(0.05, 0.12)))
    x, y = int(w * rng.uniform(0.0, 0.3)), int(h * rng.uniform(0.0, 0.85))
    for dx, dy in ((-2, 0), (2, 0), (0, -2), (0, 2)):
        draw.text((x + dx, y + dy), text, font=_font(size), fill=(0, 0, 0))
    draw.text((x, y), text, font=_font(size), fill=(255, 255, 255))
    return _jpeg(out, rng.randint(70, 92))


def _screenshot(image: Image.Image, rng: random.Random) -> bytes:
    """The photo inside an app or forum frame: bars, margins, text lines, avatar, shrunk."""
    scale = rng.uniform(0.5, 1.0)
    photo = _resize(image, scale)
    w, h = photo.size
    left, right = int(w * rng.uniform(0.0, 0.25)), int(w * rng.uniform(0.0, 0.25))
    top, bottom = int(h * rng.uniform(0.08, 0.45)), int(h * rng.uniform(0.05, 0.45))
    background = rng.choice(((255, 255, 255), (24, 24, 28), (240, 242, 245), _colour(rng)))
    canvas = Image.new("RGB", (w + left + right, h + top + bottom), background)
    draw = ImageDraw.Draw(canvas)
    cw, ch = canvas.size
    bar = max(8, int(top * rng.uniform(0.2, 0.5)))
    draw.rectangle((0, 0, cw, bar), fill=_colour(rng))
    ink = (20, 20, 20) if sum(background) > 380 else (230, 230, 230)
    size = max(9, int(bar * 0.5))
    draw.text((max(4, left), bar // 4), rng.choice(_WORDS), font=_font(size), fill=(255, 255, 255))
    avatar = max(8, int((top - bar) * 0.5))
    if top - bar > avatar + 4:
        ay = bar + (top - bar - avatar) // 2
        draw.ellipse((max(4, left), ay, max(4, left) + avatar, ay + avatar), fill=_colour(rng))
        draw.text((max(4, left) + avatar + 6, ay), rng.choice(_WORDS), font=_font(size), fill=ink)
    canvas.paste(photo, (left, top))
    for i in range(rng.randint(0, 4)):
        y = top + h + 6 + i * (size + 6)
        if y + size < ch:
            draw.text((max(4, left), y), rng.choice(_WORDS), font=_font(size), fill=ink)
    return _png(canvas) if rng.random() < 0.5 else _jpeg(canvas, rng.randint(75, 92))


def _collage(image: Image.Image, rng: random.Random, others: list[Image.Image]) -> bytes:
    """The photo as one tile of a 2-9 tile grid; the other tiles are other photos."""
    tiles = rng.randint(2, 9)
    cols = math.ceil(math.sqrt(tiles))
    rows = math.ceil(tiles / cols)
    tile = rng.randint(160, 360)
    gap = rng.randint(0, 12)
    canvas = Image.new(
        "RGB", (cols * tile + (cols + 1) * gap, rows * tile + (rows + 1) * gap), _colour(rng)
    )
    ours = rng.randrange(tiles)
    for i in range(tiles):
        source = image if i == ours else rng.choice(others)
        cell = ImageOps.fit(source, (tile, tile), Image.Resampling.LANCZOS)
        r, c = divmod(i, cols)
        canvas.paste(cell, (gap + c * (tile + gap), gap + r * (tile + gap)))
    return _jpeg(canvas, rng.randint(75, 92))


def _stickers(image: Image.Image, rng: random.Random) -> bytes:
    """Emoji-like discs and blocks pasted over 5-25% of the photo (e.g. over a face)."""
    out = image.copy()
    w, h = out.size
    target = rng.uniform(0.05, 0.25) * w * h
    draw = ImageDraw.Draw(out)
    covered = 0.0
    while covered < target:
        r = int(math.sqrt(target / math.pi) * rng.uniform(0.35, 1.0))
        r = max(6, min(r, int(math.sqrt((target - covered) / math.pi)) + 6))
        x, y = rng.randrange(w), rng.randrange(h)
        if rng.random() < 0.7:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 204, 77))
            draw.ellipse((x - r // 3, y - r // 3, x - r // 6, y), fill=(60, 40, 20))
            draw.ellipse((x + r // 6, y - r // 3, x + r // 3, y), fill=(60, 40, 20))
            draw.arc((x - r // 2, y, x + r // 2, y + r // 2), 0, 180, fill=(60, 40, 20), width=3)
            covered += math.pi * r * r
        else:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=_colour(rng))
            covered += 2 * r * r
    return _jpeg(out, rng.randint(70, 92))


def _sepia(image: Image.Image, strength: float) -> Image.Image:
    grey = ImageOps.grayscale(image)
    toned = ImageOps.colorize(grey, (40, 26, 13), (255, 240, 192))
    return Image.blend(image.convert("RGB"), toned, strength)


def _vignette(image: Image.Image, strength: float) -> Image.Image:
    w, h = image.size
    mask = Image.radial_gradient("L").resize((w, h))  # 0 at the centre, 255 at the corners
    dark = Image.new("RGB", (w, h), (0, 0, 0))
    return Image.composite(dark, image, mask.point(lambda v: int(v * strength)))


def _filter(image: Image.Image, rng: random.Random) -> bytes:
    """Instagram-like filters: sepia, vignette, saturation and contrast, one or several."""
    out = image.convert("RGB")
    chosen = rng.sample(("sepia", "vignette", "saturation", "contrast"), rng.randint(1, 3))
    if "sepia" in chosen:
        out = _sepia(out, rng.uniform(0.5, 1.0))
    if "saturation" in chosen:
        out = ImageEnhance.Color(out).enhance(
            rng.choice((rng.uniform(0.2, 0.7), rng.uniform(1.3, 2.2)))
        )
    if "contrast" in chosen:
        out = ImageEnhance.Contrast(out).enhance(rng.uniform(0.7, 1.5))
    if "vignette" in chosen:
        out = _vignette(out, rng.uniform(0.5, 0.95))
    return _jpeg(out, rng.randint(70, 92))


def _blur(image: Image.Image, rng: random.Random) -> bytes:
    """Blurred and downscaled (a re-post of a re-post, a thumbnail)."""
    out = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.5)))
    return _jpeg(_resize(out, rng.uniform(0.3, 0.7)), rng.randint(55, 85))


def families(others: list[Image.Image]) -> dict[str, Family]:
    """The drawn families; ``others`` are photos that fill a collage's other tiles."""
    return {
        "crop": _crop,
        "rotate_small": _rotate,
        "caption": _caption,
        "screenshot": _screenshot,
        "collage": lambda im, rng: _collage(im, rng, others),
        "stickers": _stickers,
        "filter": _filter,
        "blur_downscale": _blur,
    }
