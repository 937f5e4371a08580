"""SIFT computed in her browser (portal/static/portal/sift.js) against the server's
(matching.features.registration_features): do they agree, and does the crawl-side matcher find
altered copies as well with the browser's features as with the server's?

``python -m bench.eval_device_sift [--draws N] [--seed S] [--photos N]`` runs the port in real
Chromium (Playwright, Debian's chromium) on the distinct photos of shared/realdata plus
tests/data/photos, in two ways:

- *same pixels*: the server's decoded RGB (matching.images.decode) is handed to the page, so
  only the SIFT port and its Pillow "L"/BILINEAR replication are compared;
- *browser decode*: the file's bytes go through the page's own decoder (pdq.js decode:
  Chromium's JPEG/PNG decoder, draft-mode emulation), as on /espace/empreintes/.

Agreement: the share of browser keypoints with a server keypoint within 1 px whose descriptor
lies within L2 distance DESCRIPTOR_CLOSE. Recall: every photo registered in two FeatureIndexes
(browser features, server features); altered copies (crop of 10-20% off one or two sides, a
collage tile, a screenshot frame) asked of both with the crawl's query_features; also how many
of the crops PDQ alone misses (distance above CANDIDATE_MAX_DISTANCE to every registration
hash).
"""

from __future__ import annotations

import argparse
import base64
import random
import shutil
import statistics
import sys
import time
from typing import Any

import numpy as np
from PIL import Image
from playwright.sync_api import sync_playwright

from bench.eval_photos import PHOTOS
from bench.photo_transforms import _jpeg, families
from config.environment import BASE_DIR
from matching.features import FeatureIndex, LocalFeatures, query_features, registration_features
from matching.images import decode, hashes_of, registration_hashes
from matching.photos import CANDIDATE_MAX_DISTANCE

SCRIPTS = [BASE_DIR / "portal" / "static" / "portal" / n for n in ("pdq.js", "sift.js")]
DESCRIPTOR_CLOSE = 50.0  # L2 between uint8 SIFT descriptors; unrelated ones lie at 300-500
DEFAULT_SEED = 20261205

_RUN = """async ({data, width, height, encoded}) => {
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const image = encoded ? await BodyguardPDQ.decode(new Blob([bytes]))
                        : {width, height, data: bytes};
  const t0 = performance.now();
  const f = BodyguardSIFT.registrationFeatures(image);
  const ms = performance.now() - t0;
  let s = ""; for (const b of f.descriptors) { s += String.fromCharCode(b); }
  return {width: f.width, height: f.height, points: Array.from(f.points), descriptors: btoa(s), ms};
}"""


def _features(result: dict[str, Any]) -> LocalFeatures:
    points = np.array(result["points"], np.float32).reshape(-1, 2)
    descriptors = np.frombuffer(base64.b64decode(result["descriptors"]), np.uint8)
    return LocalFeatures(
        points, descriptors.reshape(-1, 128).copy(), result["width"], result["height"]
    )


def agreement(browser: LocalFeatures, server: LocalFeatures) -> tuple[float, float, float]:
    """(share agreeing within 1 px and DESCRIPTOR_CLOSE, share identical in position to 1e-3 px
    and descriptor, median position error of the agreeing ones)."""
    close = identical = 0
    errors: list[float] = []
    for point, descriptor in zip(browser.points, browser.descriptors, strict=True):
        gap = np.linalg.norm(server.points - point, axis=1)
        near = np.flatnonzero(gap <= 1.0)
        if not len(near):
            continue
        l2 = np.linalg.norm(
            server.descriptors[near].astype(np.float32) - descriptor.astype(np.float32), axis=1
        )
        if l2.min() <= DESCRIPTOR_CLOSE:
            close += 1
            errors.append(float(gap[near[int(np.argmin(l2))]]))
            if l2.min() == 0 and gap[near[int(np.argmin(l2))]] < 1e-3:
                identical += 1
    n = max(1, len(browser))
    return close / n, identical / n, statistics.median(errors) if errors else float("nan")


def _crop(image: Image.Image, rng: random.Random) -> bytes:
    """10-20% off one or two sides."""
    w, h = image.size
    cut = dict.fromkeys("ltrb", 0.0)
    for side in rng.sample("ltrb", rng.randint(1, 2)):
        cut[side] = rng.uniform(0.10, 0.20)
    box = (int(w * cut["l"]), int(h * cut["t"]), int(w * (1 - cut["r"])), int(h * (1 - cut["b"])))
    return _jpeg(image.crop(box), rng.randint(70, 92))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--photos", type=int, default=0, help="at most this many photos")
    args = parser.parse_args()
    paths = sorted(p for p in (PHOTOS / "distinct").glob("*") if p.suffix.lower() != ".md")
    paths += sorted(p for p in (BASE_DIR / "tests" / "data" / "photos").glob("*.*")
                    if p.suffix != ".md" and p.name not in {q.name for q in paths})  # fmt: skip
    if args.photos:
        paths = paths[: args.photos]
    print(f"seed {args.seed}, {len(paths)} photos, {args.draws} draws per family and photo")
    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("Debian's chromium is needed")
    images: dict[str, Image.Image] = {}
    server: dict[str, LocalFeatures] = {}
    browser: dict[str, LocalFeatures] = {}
    decoded: dict[str, LocalFeatures] = {}
    ms: list[float] = []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, chromium_sandbox=False
        )
        page = launched.new_page()
        page.set_content("<!DOCTYPE html><title>sift</title>")
        for script in SCRIPTS:
            page.add_script_tag(content=script.read_text(encoding="utf-8"))
        print(f"{'photo':34s} {'size':>9s} {'n':>3s} agree ident  px-err | decode: agree    ms")
        for path in paths:
            data = path.read_bytes()
            image = decode(data)
            images[path.name] = image
            t0 = time.perf_counter()
            server[path.name] = registration_features(image)
            server_ms = (time.perf_counter() - t0) * 1000
            raw = base64.b64encode(image.tobytes()).decode()
            same = page.evaluate(
                _RUN, {"data": raw, "width": image.width, "height": image.height, "encoded": False}
            )
            browser[path.name] = _features(same)
            ms.append(same["ms"])
            real = page.evaluate(
                _RUN, {"data": base64.b64encode(data).decode(), "width": 0, "height": 0,
                       "encoded": True},
            )  # fmt: skip
            decoded[path.name] = _features(real)
            a, ident, err = agreement(browser[path.name], server[path.name])
            d, _, _ = agreement(decoded[path.name], server[path.name])
            print(
                f"{path.name[:34]:34s} {image.width:>4d}x{image.height:<4d} {len(browser[path.name]):3d}"
                f"  {a:4.0%} {ident:4.0%} {err:7.4f} |        {d:4.0%} {same['ms']:5.0f} (server {server_ms:.0f})"
            )
        launched.close()
    for name, table in (("same pixels", browser), ("browser decode", decoded)):
        shares = [agreement(table[n], server[n])[0] for n in server]
        print(f"agreement ({name}): mean {statistics.mean(shares):.1%}, min {min(shares):.1%}")
    print(f"browser SIFT ms per photo: median {statistics.median(ms):.0f}, max {max(ms):.0f}")

    others = list(images.values())
    drawn = families(others)
    alterations = {"crop": _crop, "collage": drawn["collage"], "screenshot": drawn["screenshot"]}
    indexes = {
        "server": FeatureIndex(),
        "browser": FeatureIndex(),
        "browser-decode": FeatureIndex(),
    }
    for name in images:
        indexes["server"].add(name, server[name])
        indexes["browser"].add(name, browser[name])
        indexes["browser-decode"].add(name, decoded[name])
    rng = random.Random(args.seed)
    found = {family: dict.fromkeys(indexes, 0) for family in alterations}
    asked = dict.fromkeys(alterations, 0)
    pdq_missed = 0
    for name, image in images.items():
        registered = registration_hashes(image)
        for family, alter in alterations.items():
            for _ in range(args.draws):
                copy = decode(alter(image, rng))
                query = query_features(copy)
                asked[family] += 1
                for which, index in indexes.items():
                    found[family][which] += index.best_match(query).photo == name
                if family == "crop":
                    fp, _, _ = hashes_of(copy)
                    pdq_missed += min(fp - h for h in registered) > CANDIDATE_MAX_DISTANCE
    print(f"recall of altered copies ({args.draws} draws a photo), by registered features:")
    for family in alterations:
        cells = "  ".join(
            f"{which} {found[family][which]}/{asked[family]} ({found[family][which] / asked[family]:.0%})"
            for which in indexes
        )
        print(f"  {family:10s} {cells}")
    print(
        f"crops PDQ alone misses (distance > {CANDIDATE_MAX_DISTANCE}): {pdq_missed}/{asked['crop']}"
    )


if __name__ == "__main__":
    main()
