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


# Hangul syllables and jamo (conjoining, extended, and the compatibility letters that
# `fold` turns into conjoining ones).
_HANGUL_RUN = re.compile("[\u1100-\u11ff\u3131-\u318e\ua960-\ua97f\uac00-\ud7a3\ud7b0-\ud7ff]+")


def hangul_runs(text: str) -> list[str]:
    """The stretches of Hangul in folded `text` ("흰늑대의 노래 2" → 흰늑대의, 노래)."""
    return _HANGUL_RUN.findall(fold(text))


def hangul_grams(text: str) -> list[str]:
    """Character bigrams of every Hangul stretch in `text`, plus its last character
    alone, each once: "흰늑대의" → 흰늑 늑대 대의 의. Korean glues particles and compounds
    onto words ("젤다의", "흰늑대"), so search matches a Hangul query inside words by
    these: every character starts a gram, and a query's own bigrams all occur in a
    title that contains it."""
    grams: list[str] = []
    for run in hangul_runs(text):
        for gram in [run[i:i + 2] for i in range(len(run) - 1)] + [run[-1]]:
            if gram not in grams:
                grams.append(gram)
    return grams


def query_grams(term: str) -> list[tuple[str, bool]]:
    """What a query word needs among a title's grams to occur inside it: (gram, as a
    prefix?) — each bigram of its Hangul, exactly, or a lone Hangul character as a
    prefix (every character of a title starts a gram). [] for a word without Hangul."""
    grams: list[tuple[str, bool]] = []
    for run in hangul_runs(term):
        for gram in ([(run, True)] if len(run) == 1 else [(run[i:i + 2], False) for i in range(len(run) - 1)]):
            if gram not in grams:
                grams.append(gram)
    return grams


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
