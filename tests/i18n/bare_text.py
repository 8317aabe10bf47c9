"""Finds English a template shows without `_()`: the text between tags and the
attributes people read (placeholder, title, aria-label, alt, value of a button),
once every Jinja tag, comment and expression is taken out.

`python -m tests.i18n.bare_text [folder ...]` lists what it finds."""
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"

JINJA = re.compile(r"\{#.*?#\}|\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}|\{%.*?%\}|\{\{.*?\}\}", re.S)
WORD = re.compile(r"[A-Za-z][A-Za-z']+")
READ_ATTRS = {"placeholder", "title", "aria-label", "alt", "aria-description", "data-confirm", "hx-confirm",
              "data-label", "label"}
# Names and codes that read the same in Korean: brands, currencies, units and tech terms.
ALLOWED = {
    "Playcation", "KRW", "KST", "VIP", "Toss", "Payments", "Kakao", "Naver", "Google", "GitHub", "SSE",
    "English", "OK", "ID", "PC", "RQ", "Redis", "SQL", "CSV", "URL", "API", "JSON", "PNG", "JPEG", "WebP", "GIF",
    "px", "MB", "KB", "GB", "UTC", "DLC", "htmx", "amp", "nbsp", "middot", "times", "rarr", "larr", "hellip",
    "mdash", "ndash", "raquo", "laquo", "copy", "quot", "apos",
}
SKIP_CONTENT = {"script", "style", "code", "pre", "kbd", "samp"}


class _Finder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIP_CONTENT:
            self._skip += 1
        attrs = dict(attrs)
        for name, value in attrs.items():
            readable = name in READ_ATTRS or (name == "value" and attrs.get("type") in ("submit", "button"))
            if readable and value and _english(value):
                self.found.append(f"<{tag} {name}=\"{value.strip()}\">")

    def handle_endtag(self, tag):
        if tag in SKIP_CONTENT and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and _english(data):
            self.found.append(" ".join(data.split()))


def _english(text: str) -> bool:
    return any(word not in ALLOWED for word in WORD.findall(text))


def bare_english(path: Path) -> list[str]:
    source = JINJA.sub(" ", path.read_text(encoding="utf-8"))
    finder = _Finder()
    finder.feed(source)
    finder.close()
    return finder.found


def templates(folders=None):
    for path in sorted(TEMPLATES.rglob("*")):
        if path.suffix not in (".html", ".txt") or not path.is_file():
            continue
        rel = path.relative_to(ROOT).as_posix()
        if folders and not any(rel.startswith(f.rstrip("/") + "/") or rel == f for f in folders):
            continue
        yield rel, path


def report(folders=None) -> dict[str, list[str]]:
    return {rel: found for rel, path in templates(folders) if (found := bare_english(path))}


if __name__ == "__main__":
    for rel, found in report(sys.argv[1:] or None).items():
        print(rel)
        for text in found:
            print("   ", text[:120])
