"""What an alert email may say about where something was found: never words from the page.

Thread slugs, query strings and fragments are written by whoever posted ("/t/jeanne-is-a-…/12"),
and so is the host of a search result. An email shows the site as we configured it and a link
built from an allow-list: the structure words forum engines put in their own addresses and the
numbers they identify threads and posts by. Anything else is left out, whatever it spells
("s4l0p3", "jd", "0612345678"): a filter that looks for words only finds the words it thought of.
An address chosen by the page is not shown at all, nor one that would not lead anywhere once
stripped (a Mastodon account, a Telegram channel: their name is the address).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

# Words forum engines write in their own paths, from the URL shapes of every spider
# (crawlers/spiders) and the saved pages in tests/data: phpBB viewtopic.php, vBulletin
# showthread.php / showpost.php / threads, XenForo threads / posts / post-N / page-N, Invision
# topic / forums, Discourse /t/ and /c/, 4chan-style /thread/ and /res/, MyBB thread-N.html,
# SMF index.php. A path segment is kept when it is made only of these, ids and separators.
ENGINE_TOKENS = frozenset(
    {
        "t", "p", "f", "d", "c", "res", "thread", "threads", "topic", "topics", "forum",
        "forums", "board", "boards", "post", "posts", "comments", "comment", "page", "goto",
        "discussion", "discussions", "community", "archive", "index", "viewtopic", "viewforum",
        "viewthread", "showthread", "showpost", "showtopic", "printthread", "member", "members",
        "profile", "php", "html", "htm",
    }
)  # fmt: skip
# Query parameters that carry a thread, post, forum or page number in these engines; their
# value must be an id. A few engines also need a fixed word to jump to a post.
ID_PARAMS = frozenset(
    {
        "t", "p", "f", "id", "tid", "pid", "fid", "topic", "showtopic", "showforum", "thread",
        "threadid", "post", "postid", "forum", "comment", "start", "st", "page", "pg",
        "postcount",
    }
)  # fmt: skip
CONSTANT_PARAMS = {"do": frozenset({"findcomment"}), "view": frozenset({"findpost"})}
# 4chan's boards, kept in "/<board>/thread/<no>" on 4chan only: elsewhere a board can be named
# by its users, and its name could be a word about someone.
FOURCHAN_HOSTS = ("4chan.org", "4channel.org")
FOURCHAN_BOARDS = frozenset(
    {
        "3", "a", "aco", "adv", "an", "b", "bant", "biz", "c", "cgl", "ck", "cm", "co", "d",
        "diy", "e", "f", "fa", "fit", "g", "gd", "gif", "h", "hc", "his", "hm", "hr", "i", "ic",
        "int", "jp", "k", "lgbt", "lit", "m", "mlp", "mu", "n", "news", "o", "out", "p", "po",
        "pol", "pw", "qa", "qst", "r", "r9k", "s", "s4s", "sci", "soc", "sp", "t", "tg", "toy",
        "trash", "trv", "tv", "u", "v", "vg", "vip", "vm", "vmg", "vp", "vr", "vrpg", "vst",
        "vt", "w", "wg", "wsg", "wsr", "x", "xs", "y",
    }
)  # fmt: skip
REDDIT_HOSTS = ("reddit.com",)

# An id as engines number things: at most 20 digits (Mastodon's and Discord's snowflakes are
# 18-19), no leading zero beyond 4 digits ("04" in a dated path; a phone number starts with 0).
_ID = r"(?:0|[1-9][0-9]{0,19}|0[0-9]{1,3})"
_IS_ID = re.compile(_ID)
# "page34", "post949757", "t7", "t7p15": an engine's letter or word glued to an id.
_MARKED_ID = re.compile(rf"(?:(?:t|p|f|page|post|pid|tid|msg|thread|topic|comment){_ID})+")
# "123.0", "123.msg456": SMF's topic values.
_SMF_TOPIC = re.compile(rf"{_ID}\.(?:msg)?{_ID}")
_SEPARATORS = re.compile(r"[-_.]")
# "#p453", "#post949757", "#post-53504", "#comment4750745", "#7".
_FRAGMENT = re.compile(rf"(?:(?:p|post|pid|msg|comment|entry|reply|js-post)-?)?{_ID}")
# vBSEO's "/<forum>/<thread id>-<title>-post<post id>.html": the same post without words.
_VBSEO_POST = re.compile(rf"{_ID}-.*-post({_ID})\.html")
# Reddit's own base-36 ids (posts, comments), assigned by Reddit in sequence.
_REDDIT_ID = re.compile(r"[0-9a-z]{1,13}")


def _is_id(text: str) -> bool:
    return bool(_IS_ID.fullmatch(text))


def _on(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith(f".{d}") for d in domains)


def _is_engine_word(segment: str) -> bool:
    tokens = [t for t in _SEPARATORS.split(segment.lower()) if t]
    return (
        segment.isascii()
        and bool(tokens)
        and all(
            t in ENGINE_TOKENS or _IS_ID.fullmatch(t) or _MARKED_ID.fullmatch(t) for t in tokens
        )
    )


def _id_of(segment: str) -> str | None:
    """The id in a slugged segment: "123-some-title" (vBulletin, Invision, Flarum),
    "t7-some-title" (Forumotion), "some-title.12345" (XenForo)."""
    first = segment.split("-", 1)
    if len(first) == 2:
        if _is_id(first[0]):
            return first[0]
        if _MARKED_ID.fullmatch(first[0].lower()):
            return first[0].lower() + "-"  # Forumotion finds "/t7-" only with its dash
    last = segment.rsplit(".", 1)
    if len(last) == 2 and _is_id(last[1]):
        return last[1]
    return None


def _neutral_path(segments: list[str], host: str) -> tuple[list[str], bool] | None:
    """The segments to keep, and whether the path still has the words that make it an engine's
    address (else, with a segment dropped, the stripped link would not lead to the page)."""
    lowered = [s.lower() for s in segments]
    if _on(host, REDDIT_HOSTS) and "comments" in lowered:
        # "/r/<subreddit>/comments/<post>/<title>/<comment>/": the subreddit is named by its
        # users; Reddit finds a post by its id alone and ignores the title ("_").
        at = lowered.index("comments")
        ids = [s for s in lowered[at + 1 : at + 4 : 2] if _REDDIT_ID.fullmatch(s)]
        if not ids or ids[0] != lowered[at + 1]:
            return None
        return ["comments", ids[0], *(["_", ids[1]] if len(ids) > 1 else [])], True
    kept: list[str] = []
    dropped = False
    structured = False
    for n, segment in enumerate(segments):
        after = lowered[n + 1] if n + 1 < len(lowered) else ""
        if (
            _on(host, FOURCHAN_HOSTS)
            and after in {"thread", "res"}
            and lowered[n] in FOURCHAN_BOARDS
        ):
            kept.append(lowered[n])
        elif _is_engine_word(segment):
            kept.append(segment)
            structured = structured or not all(_is_id(t) for t in _SEPARATORS.split(segment))
        elif _is_id(after):
            dropped = True  # a slug before the id ("/t/<slug>/2108"): the id alone is enough
        elif (found := _id_of(segment)) is not None:
            kept.append(found)
        else:
            dropped = True
    return kept, structured or not dropped


def _allowed_param(key: str, value: str) -> bool:
    if key in ID_PARAMS:
        return _is_id(value) or (key == "topic" and bool(_SMF_TOPIC.fullmatch(value)))
    return value.lower() in CONSTANT_PARAMS.get(key, ())


def _neutral_query(query: str) -> list[str]:
    kept = []
    for pair in query.split("&"):
        name, eq, value = (unquote(p.replace("+", " ")) for p in pair.partition("="))
        key = name.strip().lower()
        if not eq:
            # vBulletin 4: "showthread.php?123-some-title"
            found = _id_of(key)
            if found is not None and _is_id(found):
                kept.append(found)
        elif _allowed_param(key, value):
            kept.append(f"{key}={value}")
    return kept


def neutral_url(url: str, host: str) -> str | None:
    """``url`` on ``host`` (the configured one) with only engine words and ids, or None when
    ``url`` is elsewhere or nothing that would still lead to the page is left."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or (parts.hostname or "") != host:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    netloc = host if port is None else f"{host}:{port}"
    segments = [unquote(s) for s in parts.path.split("/") if s]
    fragment = unquote(parts.fragment)
    fragment = fragment if fragment.isascii() and _FRAGMENT.fullmatch(fragment.lower()) else ""
    if segments and (vbseo := _VBSEO_POST.fullmatch(segments[-1].lower())):
        post = vbseo.group(1)
        return urlunsplit((parts.scheme, netloc, "/showthread.php", f"p={post}", fragment))
    neutral = _neutral_path(segments, host)
    if neutral is None or not neutral[1]:
        return None
    path = "/" + "/".join(neutral[0])
    query = "&".join(_neutral_query(parts.query)) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, path, query, fragment))
