from crawlers.spiders.html_forum import HtmlForumSpider


class GenericSpider(HtmlForumSpider):
    """Any other forum: selectors (post, text, author, time, permalink, images, next_page,
    thread_links, title) and optionally ``search_path`` come from the source's ``options``."""

    name = "generic"  # type: ignore[misc]
    SELECTORS = None
