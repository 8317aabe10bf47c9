"""The words a page shows in a given language, for tests that read the page like a user.

`t("Add to cart", "ko")` is the Korean the store prints for that msgid (from the compiled
catalog, translations/ko/LC_MESSAGES/messages.mo, which the running store reads too), or
the msgid itself while it has no Korean; `t(..., "en")` is always the msgid. So a journey
that asserts `t("Add to cart", lang)` passes in both languages whatever the translation.

Placeholders work as in `gettext(msgid, **params)`: `t("Logged in as %(nickname)s.", lang,
nickname="Kim")`. The catalog's msgid may name its placeholders differently from the
test (`%(name)s` where the test says `%(nickname)s`): when the exact msgid is missing, the
one that differs only in placeholder names is used, the test's parameters handed over in
order of appearance. Msgids the Korean catalog lacks are recorded in MISSING, and the
browser suite lists them at the end (a test waiting for English that the store
translates differently, or a msgid reworded by whoever wrapped it).
"""
import re
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import read_mo

from shop.web.i18n import won as _won

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = ROOT / "translations"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdif]")

MISSING: dict[str, set[str]] = {}  # locale -> msgids looked up that its catalog lacks


def _shape(msgid: str) -> str:
    return PLACEHOLDER.sub("%()", msgid)


class _Catalog:
    """One compiled catalog: msgid -> msgstr, plural msgid -> forms, and both by shape."""

    def __init__(self, path: Path):
        self.exact: dict[str, str | tuple] = {}
        self.by_shape: dict[str, tuple[str, str | tuple]] = {}
        if not path.exists():
            return
        with open(path, "rb") as f:
            catalog = read_mo(f)
        for message in catalog:
            if not message.id or not message.string or message.string == ("",) * len(message.string or ()):
                continue
            key = message.id[0] if isinstance(message.id, (tuple, list)) else message.id
            string = tuple(message.string) if isinstance(message.string, (tuple, list)) else message.string
            self.exact[key] = string
            self.by_shape.setdefault(_shape(key), (key, string))

    def find(self, msgid: str) -> tuple[str, str | tuple] | None:
        """(the catalog's msgid, its translation), exactly or up to placeholder names."""
        if msgid in self.exact:
            return msgid, self.exact[msgid]
        return self.by_shape.get(_shape(msgid))


@lru_cache(maxsize=None)
def catalog(locale: str) -> _Catalog:
    return _Catalog(CATALOGS / locale / "LC_MESSAGES" / "messages.mo")


def _rename(params: dict, ours: str, theirs: str) -> dict:
    """The test's parameters under the catalog msgid's placeholder names (by position)."""
    mine, their_names = PLACEHOLDER.findall(ours), PLACEHOLDER.findall(theirs)
    if mine == their_names:
        return params
    mapping = dict(zip(dict.fromkeys(mine), dict.fromkeys(their_names)))
    return {mapping.get(name, name): value for name, value in params.items()}


def _format(text: str, params: dict) -> str:
    return text % params if params else text.replace("%%", "%")


def _lookup(msgid: str, locale: str):
    if locale == "en":
        return None
    found = catalog(locale).find(msgid)
    if found is None:
        MISSING.setdefault(locale, set()).add(msgid)
    return found


def t(msgid: str, locale: str, **params) -> str:
    """What the store shows for `msgid` in `locale` ('ko' or 'en'), with `params` filled in."""
    found = _lookup(msgid, locale)
    if found is None:
        return _format(msgid, params)
    theirs, string = found
    if not isinstance(string, str):  # wrapped as ngettext: Korean has one form
        string = string[0]
    return _format(string, _rename(params, msgid, theirs))


def tn(singular: str, plural: str, num: int, locale: str, **params) -> str:
    """ngettext's counterpart: `tn("%(num)d item", "%(num)d items", 3, "ko")` (num is a parameter)."""
    params.setdefault("num", num)
    found = _lookup(singular, locale)
    if found is None:
        return _format(singular if num == 1 else plural, params)
    theirs, forms = found
    string = forms if isinstance(forms, str) else forms[0]  # Korean: one plural form
    return _format(string, _rename(params, singular, theirs))


class Language:
    """The language a browser pass speaks: `say("Add to cart")`, `say.n(...)`, `say.won(15000)`."""

    BROWSER_LOCALES = {"ko": "ko-KR", "en": "en-US"}

    def __init__(self, code: str):
        self.code = code
        self.browser_locale = self.BROWSER_LOCALES[code]

    def __call__(self, msgid: str, **params) -> str:
        return t(msgid, self.code, **params)

    def n(self, singular: str, plural: str, num: int, **params) -> str:
        return tn(singular, plural, num, self.code, **params)

    def won(self, amount: int) -> str:
        """12,000원 / ₩12,000, as the store's `|won` filter prints it."""
        return _won(amount, self.code)

    def __repr__(self):
        return self.code
