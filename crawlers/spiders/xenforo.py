from crawlers.spiders.html_forum import ForumSelectors, HtmlForumSpider


class XenforoSpider(HtmlForumSpider):
    """XenForo 2 threads and articles."""

    name = "xenforo"  # type: ignore[misc]
    SELECTORS = ForumSelectors(
        post="article.message",
        text="div.bbWrapper",
        author="::attr(data-author)",
        time="time.u-dt::attr(datetime), time::attr(datetime)",
        permalink="a.message-attribution-gadget::attr(href), header.message-attribution a[href*='post-']::attr(href)",
        images="img.bbImage, img",
        next_page="a.pageNav-jump--next::attr(href), link[rel=next]::attr(href)",
        thread_links="div.structItem-title a[href*='/threads/']::attr(href), h3.contentRow-title a::attr(href)",
        title="h1.p-title-value::text, title::text",
    )
    SEARCH_PATH = "/search/search?keywords={q}&c[title_only]=0&o=date"
