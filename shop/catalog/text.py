"""Text helpers for the catalog: slugs, search normalisation, safe Markdown."""
import re
import unicodedata

from markdown_it import MarkdownIt
from markupsafe import Markup

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def fold(text: str) -> str:
    """Lower-case and strip accents (é → e, Å → a) but keep Hangul intact.

    Hangul syllables decompose under NFD too, so only combining marks that follow a
    Latin/Greek/Cyrillic letter are dropped, then the text is recomposed (NFC).
    """
    decomposed = unicodedata.normalize("NFKD", text or "")
    kept = []
    for ch in decomposed:
        if unicodedata.combining(ch) and kept and ord(kept[-1]) < 0x1100:
            continue
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept)).casefold()


def words(text: str) -> list[str]:
    """Folded word tokens (letters, digits, Hangul); punctuation splits words."""
    return [w for w in _NON_WORD.split(fold(text).replace("_", " ")) if w]


def slugify(text: str, max_length: int = 120) -> str:
    """URL slug: folded words joined by '-'. Korean stays Korean (`/games/젤다의-전설`)."""
    slug = "-".join(words(text))[:max_length].strip("-")
    return slug or "game"


# CommonMark without raw HTML: tags in the source are shown as text, and
# markdown-it's link validation refuses javascript:, vbscript:, data: (except images) URLs.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).disable("image")


def _demote_headings(state):
    """A description lives under the page's own h1/h2: `#` becomes h3, `##` h4, … (max h6)."""
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 2, 6)}"


_md.core.ruler.push("demote_headings", _demote_headings)


def render_markdown(source: str) -> Markup:
    html = _md.render(source or "")
    # Links open safely: no opener access, no referrer leak, no SEO credit for spam.
    html = html.replace("<a href=", '<a rel="nofollow noopener noreferrer" target="_blank" href=')
    return Markup(html)
