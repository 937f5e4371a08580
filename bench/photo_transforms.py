"""The alterations harassers apply to re-posted photos, for `make eval` and the tests."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps

Transform = Callable[[Image.Image], bytes]


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


def _crop(image: Image.Image, share: float) -> Image.Image:
    w, h = image.size
    return image.crop((int(w * share), int(h * share), int(w * (1 - share)), int(h * (1 - share))))


def _letterbox(image: Image.Image, share: float) -> Image.Image:
    w, h = image.size
    pad = int(h * share / 2)
    canvas = Image.new("RGB", (w, h + 2 * pad), (0, 0, 0))
    canvas.paste(image, (0, pad))
    return canvas


def _caption(image: Image.Image) -> Image.Image:
    out = image.copy()
    w, h = out.size
    draw = ImageDraw.Draw(out)
    size = max(12, h // 12)
    font = ImageFont.load_default(size=size)
    text = "regardez qui c'est lol"
    x, y = w // 20, h - size - h // 20
    for dx, dy in ((-2, 0), (2, 0), (0, -2), (0, 2)):
        draw.text((x + dx, y + dy), text, font=font, fill=(0, 0, 0))
    draw.text((x, y), text, font=font, fill=(255, 255, 255))
    return out


def _screenshot(image: Image.Image) -> Image.Image:
    w, h = image.size
    side, bar = max(4, w // 25), max(12, h // 10)
    canvas = Image.new("RGB", (w + 2 * side, h + bar + side), (236, 236, 236))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, canvas.width, bar - 2), fill=(60, 60, 68))
    canvas.paste(image, (side, bar))
    return canvas


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
    "crop_5": lambda im: _jpeg(_crop(im, 0.05)),
    "crop_10": lambda im: _jpeg(_crop(im, 0.10)),
    "letterbox_20": lambda im: _jpeg(_letterbox(im, 0.20)),
    "mirror": lambda im: _jpeg(ImageOps.mirror(im)),
    "rotate_90": lambda im: _jpeg(im.transpose(Image.Transpose.ROTATE_90)),
    "rotate_180": lambda im: _jpeg(im.transpose(Image.Transpose.ROTATE_180)),
    "rotate_270": lambda im: _jpeg(im.transpose(Image.Transpose.ROTATE_270)),
    "rotate_4deg": lambda im: _jpeg(im.rotate(4, resample=Image.Resampling.BICUBIC)),
    "caption": lambda im: _jpeg(_caption(im)),
    "screenshot_border": lambda im: _png(_screenshot(im)),
    "greyscale": lambda im: _jpeg(ImageOps.grayscale(im)),
    "brightness_+20": lambda im: _jpeg(ImageEnhance.Brightness(im).enhance(1.2)),
    "brightness_-20": lambda im: _jpeg(ImageEnhance.Brightness(im).enhance(0.8)),
    "exif_orientation": _exif_rotated,
}
