from crawlers.spiders.html_forum import ForumSelectors, HtmlForumSpider


class PhpbbSpider(HtmlForumSpider):
    """phpBB 3 (prosilver and its derivatives)."""

    name = "phpbb"  # type: ignore[misc]
    SELECTORS = ForumSelectors(
        post="div.post",
        text="div.content",
        author=".postprofile a.username::text, .postprofile a.username-coloured::text",
        time="p.author time::attr(datetime), p.author::text",
        permalink="p.author a[href*='#p']::attr(href), h3 a[href^='#p']::attr(href)",
        next_page="div.pagination li.next a::attr(href), a[rel=next]::attr(href)",
        thread_links="a.topictitle::attr(href), li.search.post h3 a::attr(href), .postbody h3 a[href*='viewtopic']::attr(href)",
        title="h2.topic-title a::text, h2.topic-title::text, title::text",
    )
    SEARCH_PATH = "/search.php?keywords={q}&terms=all&sr=posts"
