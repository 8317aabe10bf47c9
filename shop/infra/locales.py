"""The store's languages, in the lowest layer that needs them (emails are rendered here in
infra; the request's choice is made in shop/web/i18n.py)."""

LOCALES = ("ko", "en")
DEFAULT = "ko"
# What Accept-Language may pick: the languages, and the regional tags browsers send.
ACCEPTABLE = LOCALES + ("ko-KR", "en-US", "en-GB")


def normalize(value) -> str | None:
    """'ko', 'ko-KR', 'EN_us' → a supported locale, or None."""
    code = str(value or "").strip().lower().replace("_", "-").split("-", 1)[0]
    return code if code in LOCALES else None
