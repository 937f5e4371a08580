from crawlers.spiders.html_forum import ForumSelectors, HtmlForumSpider


class InvisionSpider(HtmlForumSpider):
    """Invision Community (IPB 4 posts) and IPB-based comment pages such as 4pda's."""

    name = "invision"  # type: ignore[misc]
    SELECTORS = ForumSelectors(
        post="article.cPost, div[id^='comment-']",
        text="div[data-role='commentContent'], div.cPost_contentWrap .ipsType_richText, p.content",
        author="aside.cAuthorPane h3 a::text, .cAuthorPane_author a::text, a.nickname::text",
        time="time::attr(datetime), span.h-meta::text",
        permalink="a[data-roleinfo='postLink']::attr(href), div.ipsType_reset a[href*='comment=']::attr(href), .more-meta a::attr(href)",
        next_page="li.ipsPagination_next a::attr(href), link[rel=next]::attr(href)",
        thread_links="span.ipsType_break a[href*='/topic/']::attr(href), h2.ipsStreamItem_title a::attr(href)",
        title="h1.ipsType_pageTitle span::text, title::text",
    )
    SEARCH_PATH = "/search/?q={q}&type=forums_topic&sortby=newest"
