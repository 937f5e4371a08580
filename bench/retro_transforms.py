"""Alterations of re-posted photos with parameters drawn at random, for `make eval` (retro).

The ranges are the issue's (and those of the crawl-time eval's families): crop 3-25% from one
to four sides, rotation of 1-10 degrees either way, captions (band or overlay), screenshot
frames, collages of 2-9 tiles, stickers over 5-25%, filters, blur with downscale. Each call
draws its own parameters from the ``random.Random`` it is given, so a printed seed replays a run.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Family = Callable[[Image.Image, random.Random], bytes]

_WORDS = (
    "regardez qui c'est lol",
    "elle se reconnaîtra",
    "la honte",
    "qui la connaît ?",
    "envoyez en mp",
    "partagez un max",
)


def _jpeg(image: Image.Image, rng: random.Random) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=rng.randint(70, 92))
    return out.getvalue()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG")
    return out.getvalue()


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _resize(image: Image.Image, factor: float) -> Image.Image:
    w, h = image.size
    return image.resize(
        (max(8, int(w * factor)), max(8, int(h * factor))), Image.Resampling.LANCZOS
    )


def crop(image: Image.Image, rng: random.Random) -> bytes:
    w, h = image.size
    sides = set(rng.sample(("l", "t", "r", "b"), rng.randint(1, 4)))
    share = {s: rng.uniform(0.03, 0.25) if s in sides else 0.0 for s in "ltrb"}
    box = (
        int(w * share["l"]),
        int(h * share["t"]),
        int(w * (1 - share["r"])),
        int(h * (1 - share["b"])),
    )
    return _jpeg(image.crop(box), rng)


def rotate(image: Image.Image, rng: random.Random) -> bytes:
    angle = rng.uniform(1, 10) * rng.choice((-1, 1))
    rotated = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=rng.random() < 0.5)
    if rng.random() < 0.6:  # cropped to the largest upright box, as editing apps do
        w, h = rotated.size
        a = math.radians(abs(angle))
        keep = 1 / (math.cos(a) + math.sin(a) * max(w / h, h / w))
        cw, ch = w * keep, h * keep
        x0, y0 = (w - cw) / 2, (h - ch) / 2
        rotated = rotated.crop((int(x0), int(y0), int(x0 + cw), int(y0 + ch)))
    return _jpeg(rotated, rng)


def caption(image: Image.Image, rng: random.Random) -> bytes:
    w, h = image.size
    text = rng.choice(_WORDS)
    if rng.random() < 0.6:  # a meme band above or below
        band = int(h * rng.uniform(0.08, 0.35))
        background = rng.choice(((255, 255, 255), (0, 0, 0), _colour(rng)))
        canvas = Image.new("RGB", (w, h + band), background)
        on_top = rng.random() < 0.7
        canvas.paste(image, (0, band if on_top else 0))
        size = max(10, int(band * rng.uniform(0.3, 0.6)))
        ink = (0, 0, 0) if sum(background) > 380 else (255, 255, 255)
        y = (0 if on_top else h) + (band - size) // 2
        ImageDraw.Draw(canvas).text((w // 20, y), text, font=_font(size), fill=ink)
        return _jpeg(canvas, rng)
    out = image.copy()
    draw = ImageDraw.Draw(out)
    size = max(12, int(h * rng.uniform(0.05, 0.12)))
    x, y = int(w * rng.uniform(0.0, 0.3)), int(h * rng.uniform(0.0, 0.85))
    for dx, dy in ((-2, 0), (2, 0), (0, -2), (0, 2)):
        draw.text((x + dx, y + dy), text, font=_font(size), fill=(0, 0, 0))
    draw.text((x, y), text, font=_font(size), fill=(255, 255, 255))
    return _jpeg(out, rng)


def screenshot(image: Image.Image, rng: random.Random) -> bytes:
    """The photo inside an app's frame: a title bar, an avatar and a name, margins, text lines."""
    photo = _resize(image, rng.uniform(0.5, 1.0))
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
    return _png(canvas) if rng.random() < 0.5 else _jpeg(canvas, rng)


def collage(image: Image.Image, rng: random.Random, others: list[Image.Image]) -> bytes:
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
    return _jpeg(canvas, rng)


def stickers(image: Image.Image, rng: random.Random) -> bytes:
    """Emoji-like discs and blocks pasted over 5-25% of the photo."""
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
            covered += math.pi * r * r
        else:
            draw.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=_colour(rng))
            covered += 2 * r * r
    return _jpeg(out, rng)


def filters(image: Image.Image, rng: random.Random) -> bytes:
    """Instagram-like: sepia, saturation, contrast, vignette, one to three of them."""
    out = image.convert("RGB")
    chosen = rng.sample(("sepia", "vignette", "saturation", "contrast"), rng.randint(1, 3))
    if "sepia" in chosen:
        toned = ImageOps.colorize(ImageOps.grayscale(out), (40, 26, 13), (255, 240, 192))
        out = Image.blend(out, toned, rng.uniform(0.5, 1.0))
    if "saturation" in chosen:
        factor = rng.choice((rng.uniform(0.2, 0.7), rng.uniform(1.3, 2.2)))
        out = ImageEnhance.Color(out).enhance(factor)
    if "contrast" in chosen:
        out = ImageEnhance.Contrast(out).enhance(rng.uniform(0.7, 1.5))
    if "vignette" in chosen:
        w, h = out.size
        mask = Image.radial_gradient("L").resize((w, h))
        strength = rng.uniform(0.5, 0.95)
        out = Image.composite(
            Image.new("RGB", (w, h)), out, mask.point(lambda v: int(v * strength))
        )
    return _jpeg(out, rng)


def blur_downscale(image: Image.Image, rng: random.Random) -> bytes:
    out = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.8, 2.5)))
    return _jpeg(_resize(out, rng.uniform(0.3, 0.7)), rng)


def families(others: list[Image.Image]) -> dict[str, Family]:
    """The drawn families; ``others`` are photos that fill a collage's other tiles."""
    return {
        "crop": crop,
        "rotate_small": rotate,
        "caption": caption,
        "screenshot": screenshot,
        "collage": lambda im, rng: collage(im, rng, others),
        "stickers": stickers,
        "filter": filters,
        "blur_downscale": blur_downscale,
    }
