"""Optional full-page screenshots of hit pages, through headless Chromium (Playwright).

Enabled with ``BODYGUARD_SCREENSHOTS=1``. Every request the page makes goes through the same
address rule as crawls (private, loopback, link-local and metadata addresses refused unless the
source allows them). Images, media and fonts are not loaded at all: a screenshot shows the page
as published, its text and layout, but never renders a harmful picture onto our disk; the
pictures themselves are matched by hash and reviewed through the blurred proxy. JavaScript is
off: forum pages are rendered by their servers, and a hostile page gets no code run for it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from config.sources import Source
from crawlers.browser_proxy import GuardProxy
from crawlers.evidence import EvidenceWriter
from crawlers.fetch import USER_AGENT, FetchFailed, FetchPolicy, resolve
from crawlers.guard import AddressRule
from hits.documents import Hit
from hits.store import HitStore

# Pages longer than this are cut: a screenshot is evidence of what is at the top of the page
# (where the post's anchor scrolls to is captured separately), not an archive of the thread.
MAX_HEIGHT_PX = 12000
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_S = 30
# Seconds a loaded page gets to go quiet (meta refreshes, late requests) before the shot.
SETTLE_S = 3
# Chromium must not reach out on its own (updates, safe browsing, metrics): the machine may be
# closed, and we want no traffic but the page's.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--dns-prefetch-disable",
)
# For hostile pages only: Chromium resolves no name itself, everything goes through our guard
# proxy, by address; loopback too (Chromium would otherwise reach it around the proxy).
GUARDED_ARGS = (
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--proxy-bypass-list=<-loopback>",
)
_NOT_LOADED = {"image", "media", "font"}

if TYPE_CHECKING:  # Playwright is imported when a screenshot is taken, not at start-up
    from playwright.sync_api import Browser, Route


@dataclass(frozen=True)
class Screenshot:
    url: str
    final_url: str
    png: bytes
    taken_at: datetime
    # Requests the page wanted and our guard refused (internal addresses, other schemes).
    refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScreenshotFailed:
    url: str
    reason: str


@dataclass
class _Guard:
    policy: FetchPolicy
    refused: list[str] = field(default_factory=list)
    verdicts: dict[tuple[str, int], bool] = field(default_factory=dict)

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        key = (parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        if key not in self.verdicts:
            self.verdicts[key] = not isinstance(resolve(*key, self.policy), FetchFailed)
        return self.verdicts[key]


def _router(guard: _Guard) -> Callable[[Route], None]:
    def route(route: Route) -> None:
        request = route.request
        if request.resource_type in _NOT_LOADED:
            route.abort("blockedbyclient")
        elif guard.allows(request.url):
            route.continue_()
        else:
            guard.refused.append(request.url)
            route.abort("blockedbyclient")

    return route


def take_screenshots(
    targets: Sequence[tuple[str, FetchPolicy]], chromium: str
) -> list[Screenshot | ScreenshotFailed]:
    """One screenshot per (URL, policy), in order. Never raises for a page that fails."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    results: list[Screenshot | ScreenshotFailed] = []
    with GuardProxy() as proxy, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            # Chromium's own sandbox cannot run as root; it stays on for any other user.
            chromium_sandbox=os.geteuid() != 0,
            args=[*CHROMIUM_ARGS, *GUARDED_ARGS, f"--proxy-server=http://{proxy.address}"],
        )
        try:
            for url, policy in targets:
                results.append(_one(browser, proxy, url, policy, PlaywrightError))
        finally:
            browser.close()
    return results


def _one(
    browser: Browser, proxy: GuardProxy, url: str, policy: FetchPolicy, error: type[Exception]
) -> Screenshot | ScreenshotFailed:
    guard = _Guard(policy)
    if urlsplit(url).scheme not in ("http", "https"):
        return ScreenshotFailed(url, "refused: not an http(s) page")
    if not guard.allows(url):
        return ScreenshotFailed(url, "refused: internal address")
    proxy.state.rule = AddressRule(
        policy.allow_private_addresses, policy.private_allowlist, policy.dns_server
    )
    proxy.state.refused.clear()
    context = browser.new_context(
        java_script_enabled=False,
        user_agent=USER_AGENT,
        viewport=VIEWPORT,  # type: ignore[arg-type]
        service_workers="block",
    )
    context.route("**/*", _router(guard))
    page = context.new_page()
    # Every page the main frame showed: a redirect or refresh to data: or about: is refused.
    shown: list[str] = []
    page.on(
        "framenavigated",
        lambda frame: shown.append(frame.url) if frame is page.main_frame else None,
    )
    try:
        page.goto(url, wait_until="load", timeout=TIMEOUT_S * 1000)
        # A refresh or a late redirect happens after "load": let it happen (through the guard)
        # so the screenshot shows what a visitor sees, or fails where they would be taken.
        with contextlib.suppress(error):
            page.wait_for_load_state("networkidle", timeout=SETTLE_S * 1000)
        off_web = [u for u in [*shown, page.url] if urlsplit(u).scheme not in ("http", "https")]
        if off_web:
            return ScreenshotFailed(url, f"refused: the page went to {off_web[0][:100]}")
        height = min(MAX_HEIGHT_PX, int(page.evaluate("document.documentElement.scrollHeight")))
        png = page.screenshot(
            clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": max(1, height)},
            full_page=True,
        )
        refused = tuple(dict.fromkeys([*guard.refused, *proxy.state.refused]))
        return Screenshot(url, page.url, png, datetime.now(UTC), refused)
    except error as exc:
        if proxy.state.refused:
            return ScreenshotFailed(url, f"refused: {proxy.state.refused[0]}")
        return ScreenshotFailed(url, str(exc).splitlines()[0][:300])
    finally:
        context.close()


@dataclass
class ScreenshotReport:
    taken: int = 0
    failures: list[str] = field(default_factory=list)


def screenshot_hits(
    store: HitStore,
    hits: Sequence[Hit],
    sources: dict[str, Source],
    evidence_dir: Path,
    chromium: str,
) -> ScreenshotReport:
    """Screenshot each new hit's page once, archive it as a WARC resource record, and point
    the hits on that page to it."""
    report = ScreenshotReport()
    pages: dict[str, list[Hit]] = {}
    for hit in hits:
        pages.setdefault(hit.url, []).append(hit)
    if not pages:
        return report
    targets = [
        (url, FetchPolicy.for_source(sources.get(on_page[0].source_id)))
        for url, on_page in pages.items()
    ]
    try:
        shots = take_screenshots(targets, shutil.which(chromium) or chromium)
    except Exception as exc:  # no browser, or it would not start: the hits stand without
        report.failures.append(f"Chromium could not run ({chromium}): {exc}")
        return report
    writer = EvidenceWriter(evidence_dir, "screenshots")
    try:
        for shot in shots:
            if isinstance(shot, ScreenshotFailed):
                report.failures.append(f"{shot.url}: {shot.reason}")
                continue
            when = shot.taken_at.isoformat(timespec="seconds").replace("+00:00", "Z")
            ref = writer.write_resource(
                shot.url,
                shot.png,
                "image/png",
                when,
                {
                    "final_url": shot.final_url,
                    "taken_at_utc": when,
                    "refused_requests": list(shot.refused),
                    "note": "headless Chromium, JavaScript off; images, media and fonts not loaded",
                },
            )
            for hit in pages[shot.url]:
                store.set_screenshot(hit.hit_id, ref.warc, ref.record_id, ref.payload_sha256)
            report.taken += 1
    finally:
        writer.close()
    return report
