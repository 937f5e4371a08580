from crawlers.spiders.html_forum import ForumSelectors, HtmlForumSpider


class VbulletinSpider(HtmlForumSpider):
    """vBulletin 4 (postbit layouts) and 3 (post tables)."""

    name = "vbulletin"  # type: ignore[misc]
    SELECTORS = ForumSelectors(
        post="li.postcontainer, div[id^='edit'] table[id^='post']",
        text="blockquote.postcontent, div[id^='post_message_']",
        author="a.username strong::text, a.bigusername::text",
        time="span.date::text, .userstats dd:first-of-type::text, td.thead::text",
        permalink="a.postcounter::attr(href), a[id^='postcount']::attr(href)",
        next_page="link[rel=next]::attr(href), a[rel=next]::attr(href)",
        thread_links="a.title::attr(href), a[id^='thread_title_']::attr(href)",
        title="span.threadtitle a::text, title::text",
    )
    SEARCH_PATH = "/search.php?do=process&query={q}&showposts=1"
