"""The Korean catalog is complete, and templates show no English outside `_()`."""
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from .bare_text import ROOT, report

PO = ROOT / "translations" / "ko" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "lazy_ngettext": (1, 2), "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3)}


def source_msgids() -> dict[tuple[str, str | None], str]:
    """Every (msgid, context) in code and templates (as `make messages` extracts them) → where."""
    with open(ROOT / "babel.cfg") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        msgid = message[0] if isinstance(message, (tuple, list)) else message
        found.setdefault((msgid, context), f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def catalog():
    with open(PO, "rb") as f:
        return read_po(f, locale="ko")


def test_every_msgid_in_the_code_has_a_korean_translation(catalog):
    missing = []
    for (msgid, context), where in sorted(source_msgids().items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        message = catalog.get(msgid, context=context)
        strings = [] if message is None else (
            list(message.string) if isinstance(message.string, (tuple, list)) else [message.string])
        if message is None or message.fuzzy or not all(s.strip() for s in strings):
            missing.append(f"{where}: {msgid!r}")
    assert not missing, f"{len(missing)} msgids without Korean (run `make messages`, then translate):\n" + \
        "\n".join(missing[:60])


def test_translations_keep_their_placeholders(catalog):
    problems = [f"{message.id!r}: {errors}" for message, errors in catalog.check() if errors]
    assert not problems, "\n".join(problems[:40])


def test_no_template_shows_english_outside_gettext():
    found = report()
    lines = [f"{rel}: {text[:100]}" for rel, texts in found.items() for text in texts]
    assert not lines, f"{len(lines)} bare English strings in {len(found)} templates " \
        "(`python -m tests.i18n.bare_text` lists them):\n" + "\n".join(lines[:60])


def test_the_checks_can_fail(tmp_path):
    """The bare-text finder sees text, readable attributes and button values, and not
    Jinja expressions, comments or scripts."""
    from .bare_text import bare_english

    page = Path(tmp_path / "page.html")
    page.write_text('{# Bare comment #}<p>{{ _("Hello") }}</p><p>Add to cart</p>'
                    '<input placeholder="Search games"><script>var x = "Hi there";</script>'
                    '<button type="submit" value="Send it"></button><p>{{ game.title }} · KRW</p>')
    assert bare_english(page) == ["Add to cart", '<input placeholder="Search games">',
                                  '<button value="Send it">']
