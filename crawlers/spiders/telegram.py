"""Public Telegram channels through their web preview, ``https://t.me/s/<channel>`` (no login).

The preview shows the newest messages (about 20) and links to older ones with ``?before=<id>``.
There is no search: each channel named in the source's options is read, newest first. Telegram
answers a username that has no public preview (nobody holds it, or it is a user, a bot or a
private group) with the account's card page, never with an error status: that is recorded as an
error of the run, never as "no results".
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from parsel import Selector
from scrapy import Request
from scrapy.http import Response

from crawlers.dates import parse_post_time
from crawlers.items import ForumPost
from crawlers.spiders.base import SourceSpider
from matching.html import html_to_text

# Telegram usernames: 5-32 characters of letters, digits and underscores (a few historic ones
# are shorter, hence 3); anything else in the options is a typo, refused before a request.
_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{2,31}$")
_DATA_POST = re.compile(r"^([A-Za-z][A-Za-z0-9_]{2,31})/(\d{1,12})$")
_BACKGROUND_URL = re.compile(r"background-image\s*:\s*url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
DEFAULT_PAGES = 3


class UnknownChannel(ValueError):
    """A channel name in the source's options that Telegram cannot show."""


class TelegramSpider(SourceSpider):
    name = "telegram"  # type: ignore[misc]

    async def start(self) -> AsyncIterator[Request]:
        for channel in self._channels():
            yield self._page_request(channel, before=None, page=1)

    def _channels(self) -> list[str]:
        channels = [str(c).lstrip("@") for c in self.option("channels", [])]
        bad = [c for c in channels if not _USERNAME.match(c)]
        if bad:
            raise UnknownChannel(f"options.channels: not Telegram usernames: {', '.join(bad)}")
        return channels

    def _page_request(self, channel: str, before: int | None, page: int) -> Request:
        url = urljoin(self.source.base_url + "/", f"s/{channel}")
        if before is not None:
            url += f"?before={before}"
        return Request(
            url, callback=self.parse_channel, cb_kwargs={"channel": channel, "page": page}
        )

    def parse_channel(
        self, response: Response, channel: str, page: int
    ) -> Iterator[ForumPost | Request]:
        messages = response.css("div.tgme_widget_message[data-post]")
        if not messages:
            self._record_missing(response, channel)
            return
        title = self._parse_channel_title(response) or channel
        unchanged = 0
        oldest: int | None = None
        for message in messages:
            post = self._parse_message(message, channel, title)
            if post is None:
                continue
            message_id = int(post.url.rsplit("/", 1)[1])
            oldest = message_id if oldest is None else min(oldest, message_id)
            key = f"{channel}:{message_id}"
            if not self.is_new(key, post.content_sha256):
                # Read in full by an earlier run, unchanged since: its hits and corpus record
                # exist already.
                unchanged += 1
                continue
            yield post
            self.mark_read(key, post.content_sha256)
        # Older pages are fetched while this one brought something new (or on a full crawl).
        if oldest is None or page >= int(self.option("pages", DEFAULT_PAGES)):
            return
        if unchanged == len(messages) and not self.full:
            assert self.crawler.stats is not None
            self.crawler.stats.inc_value("bodyguard/skipped_unchanged")
            return
        if self._parse_before(response) is not None:
            yield self._page_request(channel, before=oldest, page=page + 1)

    def _record_missing(self, response: Response, channel: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value("bodyguard/unknown_accounts")
        if response.css(".tgme_page_title"):
            reason = f"@{channel} has no public web preview (a user, a bot or a private group)"
        else:
            reason = f"no Telegram channel @{channel}"
        self.crawler.stats.set_value("bodyguard/unknown_account_reason", reason)
        self.logger.error("%s (%s)", reason, response.url)

    def _parse_channel_title(self, response: Response) -> str:
        return " ".join(response.css(".tgme_channel_info_header_title ::text").getall()).strip()

    def _parse_before(self, response: Response) -> int | None:
        href = response.css('link[rel="prev"]::attr(href)').get() or ""
        match = re.search(r"[?&]before=(\d+)", href)
        return int(match.group(1)) if match else None

    def _parse_message(self, message: Selector, channel: str, title: str) -> ForumPost | None:
        permalink = self._parse_permalink(message, channel)
        if permalink is None:
            return None
        text = self._parse_text(message)
        images = self._parse_image_urls(message)
        videos = self._parse_video_urls(message)
        if not text and not images and not videos:
            return None
        return ForumPost(
            source_id=self.source.id,
            url=permalink,
            thread_url=self._public_url(channel),
            thread_title=title,
            text=text,
            author=self._parse_author(message),
            posted_at=self._parse_posted_at(message),
            image_urls=images,
            video_urls=videos,
        )

    def _public_url(self, path: str) -> str:
        return urljoin(str(self.option("public_url", "https://t.me")).rstrip("/") + "/", path)

    def _parse_permalink(self, message: Selector, channel: str) -> str | None:
        # data-post is "<channel>/<id>"; a message forwarded into the channel keeps this
        # channel's id, and anything that is not that shape is not a message we can cite.
        match = _DATA_POST.match(message.attrib.get("data-post", ""))
        if not match or match.group(1).lower() != channel.lower():
            return None
        return self._public_url(f"{match.group(1)}/{int(match.group(2))}")

    def _parse_text(self, message: Selector) -> str:
        parts = [message.css(".tgme_widget_message_text").get() or ""]
        # A link preview's site, title and description are published with the message.
        preview = message.css(".tgme_widget_message_link_preview")
        for selector in (
            ".link_preview_site_name",
            ".link_preview_title",
            ".link_preview_description",
        ):
            parts.append(preview.css(selector).get() or "")
        for poll in message.css(
            ".tgme_widget_message_poll_question, .tgme_widget_message_poll_option_text"
        ):
            parts.append(poll.get())
        return "\n\n".join(t for t in (html_to_text(p) for p in parts if p) if t)

    def _parse_author(self, message: Selector) -> str:
        # Text nodes are joined as written: an emoji drawn as an image can be a letter of it.
        signed = "".join(message.css(".tgme_widget_message_from_author ::text").getall()).strip()
        owner = "".join(message.css(".tgme_widget_message_owner_name ::text").getall()).strip()
        return signed or owner

    def _parse_posted_at(self, message: Selector) -> datetime | None:
        return parse_post_time(message.css(".tgme_widget_message_date time::attr(datetime)").get())

    def _parse_image_urls(self, message: Selector) -> list[str]:
        # Photos exist only as CSS backgrounds; emoji are backgrounds too and are not photos.
        styles = message.css(
            "a.tgme_widget_message_photo_wrap::attr(style), "
            ".tgme_widget_message_link_preview .link_preview_image::attr(style), "
            ".tgme_widget_message_link_preview .link_preview_right_image::attr(style)"
        ).getall()
        return self._http_urls(m.group(1) for s in styles for m in [_BACKGROUND_URL.search(s)] if m)

    def _parse_video_urls(self, message: Selector) -> list[str]:
        return self._http_urls(message.css("video::attr(src)").getall())

    @staticmethod
    def _http_urls(urls: Iterator[str] | list[str]) -> list[str]:
        found: list[str] = []
        for url in urls:
            absolute = urljoin("https://t.me/", url.strip())
            if urlsplit(absolute).scheme in {"http", "https"} and absolute not in found:
                found.append(absolute)
        return found
