"""List pages hold one form per card (add to cart) beside the filter form, never in it:
the HTML parser drops a form that opens inside another, and the first card's button
then submitted the filters (a GET with the CSRF token in the URL)."""
from html.parser import HTMLParser

import pytest

from shop.catalog.models import Tag
from shop.extensions import db

from ..support.accounts import make_user
from ..support.catalog import make_game


class FormNesting(HTMLParser):
    """Forms as the markup opens them: which open inside another, and which controls
    belong to which form (by nesting or by the `form` attribute)."""

    CONTROLS = {"input", "select", "button", "textarea"}

    def __init__(self):
        super().__init__()
        self.open: list[dict] = []
        self.forms: list[dict] = []
        self.nested: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            if self.open:
                self.nested.append(f"{attrs.get('action')} inside {self.open[-1]['attrs'].get('action')}")
            form = {"attrs": attrs, "controls": []}
            self.forms.append(form)
            self.open.append(form)
        elif tag in self.CONTROLS:
            owner = attrs.get("form")
            if owner:
                form = next((f for f in self.forms if f["attrs"].get("id") == owner), None)
                (form or {"controls": []})["controls"].append(attrs)
            elif self.open:
                self.open[-1]["controls"].append(attrs)

    def handle_endtag(self, tag):
        if tag == "form" and self.open:
            self.open.pop()


def _parse(client, url) -> FormNesting:
    res = client.get(url)
    assert res.status_code == 200, url
    parser = FormNesting()
    parser.feed(res.get_data(as_text=True))
    return parser


@pytest.fixture
def catalog(app):
    with app.app_context():
        publisher_id = make_user(role="publisher").id
        tag = Tag(name="Action", slug="action")
        db.session.add(tag)
        db.session.commit()
        for i in range(30):  # more than a page
            make_game(f"Listed Game {i:02d}", price=1000 + i, publisher_id=publisher_id,
                      tag_ids=[tag.id] if i % 2 else [])
        db.session.commit()


URLS = ["/games", "/games?tag=action", "/games?sort=price_desc&q=listed", "/games?page=2", "/"]


@pytest.mark.parametrize("signed_in", [False, True])
def test_no_form_opens_inside_another_on_list_pages(app, client, browser, catalog, signed_in):
    get = client
    if signed_in:  # a customer's cards: the same forms, with the cart's state
        with app.app_context():
            email = make_user().email
        browser.login(email)
        get = browser
    for url in URLS:
        parser = _parse(get, url)
        assert parser.nested == [], f"{url}: {parser.nested}"
        if url.startswith("/games"):
            carts = [f for f in parser.forms if "/cart/" in (f["attrs"].get("action") or "")]
            assert len(carts) >= 5, url  # every card has its own add-to-cart form
            for form in carts:
                assert {c.get("name") for c in form["controls"]} >= {"csrf_token", "next"}, url


def test_the_sort_menu_still_belongs_to_the_filter_form(client, catalog):
    parser = _parse(client, "/games?sort=price_desc")
    browse = next(f for f in parser.forms if f["attrs"].get("id") == "browse-form")
    names = {c.get("name") for c in browse["controls"]}
    assert {"q", "category", "price_min", "price_max", "on_sale", "free", "tag", "sort"} <= names
    assert "csrf_token" not in names  # a GET form: no token to leak into the URL
    assert "change from:#browse-sort" in browse["attrs"]["hx-trigger"]
