"""Demo catalog for development and benchmarks: `flask catalog seed --games N`.

Games come from one seeded random stream, so game number i is the same on every run
and every machine: rerunning with the same N finds every slug taken and adds nothing,
and a larger N adds only the games after the ones already there. Rows go in with
multi-row INSERTs in batches (one ORM object at a time would take hours for a
million games; PostgreSQL gets COPY, several times faster again); the search indexes
follow through their triggers (SQLite) or generated column (PostgreSQL). The first
few hundred games get a generated cover image (seed_covers.py) and reviews from
demo players who bought them (seed_reviews.py); the rest are unrated, since every
rating the store shows comes from review rows.
"""
import bisect
import logging
import random
import re
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import bindparam, insert, select, text, update

from ..accounts.models import User
from ..extensions import db
from ..infra.storage import get_storage
from ..timeutil import utcnow
from . import seed_korean as ko, seed_words as w
from ..catalog.models import Category, Game, Tag, game_tags
from .seed_covers import render_cover
from .seed_reviews import seed_reviews
from ..catalog import typos
from ..catalog.services import search_text_for, title_grams_for
from ..catalog.text import slugify

log = logging.getLogger(__name__)

SEED = 20261121
KOREAN_SHARE = 1 / 3  # of the demo games have Korean titles and descriptions (seed_korean.py)
BATCH_SIZE = 5000
DEFAULT_COVERS = 300
DEFAULT_REVIEWED = 300
SEED_PUBLISHER = ("seed-publisher@playcation.example", "Playcation Demo Studio")


@dataclass
class SeedResult:
    created: int = 0
    existing: int = 0
    covers: int = 0
    reviews: int = 0


@dataclass
class GameSpec:
    index: int
    row: dict
    tag_ids: list[int] = field(default_factory=list)


def seed_games(n: int, covers: int = DEFAULT_COVERS, batch_size: int = BATCH_SIZE, progress=None,
               reviewed: int = DEFAULT_REVIEWED) -> SeedResult:
    """Make sure demo games 0..n-1 exist (creating the missing ones), that the first
    `covers` of them have a cover and the first `reviewed` their demo reviews (some
    stay unrated; see seed_reviews.py). `progress(k)` is called as batches finish."""
    publisher_id = _publisher_id()
    categories = _ensure_named(Category, w.CATEGORIES)
    tags = _ensure_named(Tag, w.TAGS)
    typos.remember(w.TAGS)
    db.session.commit()
    generator = GameGenerator(publisher_id, [categories[name].id for name in w.CATEGORIES],
                              [tags[name] for name in w.TAGS])
    result = SeedResult()
    done = 0
    to_review: dict[int, tuple[str, int]] = {}  # game index -> (slug, generated sales)
    while done < n:
        specs = [generator.next() for _ in range(min(batch_size, n - done))]
        to_review.update((s.index, (s.row["slug"], s.row["sales_count"])) for s in specs if s.index < reviewed)
        created = _insert_batch(specs)
        result.created += created
        result.existing += len(specs) - created
        if specs[0].index < covers:
            result.covers += _add_covers([s for s in specs if s.index < covers], publisher_id)
        db.session.commit()
        done += len(specs)
        if progress:
            progress(len(specs))
    if to_review:
        ids = dict(db.session.execute(select(Game.slug, Game.id).where(
            Game.slug.in_([slug for slug, _ in to_review.values()]), Game.publisher_id == publisher_id)).all())
        db.session.commit()
        result.reviews = seed_reviews({index: (ids[slug], sales) for index, (slug, sales) in to_review.items()
                                       if slug in ids})
    if result.created:
        _refresh_statistics(bulk=result.created >= BULK_LOAD)
    return result


BULK_LOAD = 50_000


def _refresh_statistics(bulk: bool):
    """Fresh planner statistics: PostgreSQL picks each search query's plan from
    them. After a bulk load also VACUUM, so the covering popularity index is read
    without visiting the table (the visibility map)."""
    postgres = db.engine.dialect.name == "postgresql"
    if postgres and bulk:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE) games, game_tags"))  # not inside a transaction
    elif postgres or bulk:
        db.session.execute(text("ANALYZE games" if postgres else "ANALYZE"))
        db.session.commit()


def _publisher_id() -> int:
    """The demo publisher from `flask seed demo` when there is one, else our own."""
    from .seed import DEMO_USERS  # `flask seed demo`

    demo = [email for role, email, *_ in DEMO_USERS if role == "publisher"]
    for email in (*demo, SEED_PUBLISHER[0]):
        user_id = db.session.scalar(select(User.id).where(User.email == email))
        if user_id is not None:
            return user_id
    user = User(email=SEED_PUBLISHER[0], nickname=SEED_PUBLISHER[1], role="publisher",
                password_hash=None, email_verified_at=utcnow())  # no password: nobody logs in as it
    db.session.add(user)
    db.session.flush()
    return user.id


def _ensure_named(model, names: list[str]) -> dict:
    """Category/Tag rows for `names`, created when missing (matched by slug), with
    their Korean names filled in where they have none."""
    found = {row.slug: row for row in db.session.scalars(select(model))}
    out = {}
    for name in names:
        slug = slugify(name)
        row = found.get(slug)
        if row is None:
            row = model(name=name, slug=slug)
            db.session.add(row)
        if row.name_ko is None and name in w.KOREAN_NAMES:
            row.name_ko = w.KOREAN_NAMES[name]
        db.session.flush()
        out[name] = row
    return out


def _cumulative(weights: list[float]) -> list[float]:
    total, out = 0.0, []
    for weight in weights:
        total += weight
        out.append(total)
    return out


class Picker:
    """Weighted choice by table lookup. `random.choices` costs microseconds a call,
    and a million games take tens of millions of choices."""

    SIZE = 4096

    def __init__(self, items, weights=None):
        weights = weights or [1] * len(items)
        cumulative = _cumulative(weights)
        self.table = [items[bisect.bisect_right(cumulative, (k + 0.5) * cumulative[-1] / self.SIZE)]
                      for k in range(self.SIZE)]

    def __call__(self, random) -> object:
        return self.table[int(random() * self.SIZE)]


def _uniform(items, random):
    return items[int(random() * len(items))]


TITLE_PATTERNS = Picker(range(10), [2, 1, 1, 3, 2, 2, 1, 3, 3, 1])
KO_PATTERNS = Picker(range(len(ko.FORMATS)), ko.FORMAT_WEIGHTS)
TAG_COUNTS = Picker((1, 2, 3, 4, 5), (15, 25, 30, 20, 10))
PRICES = Picker(w.PRICES, w.PRICE_WEIGHTS)


class GameGenerator:
    """Game i of the demo catalog, in order, from one seeded random stream. Titles
    are unique: a few fresh draws, then a numbered sequel ("Dark Knight 2")."""

    def __init__(self, publisher_id: int, category_ids: list[int], tags: list[Tag]):
        self.random = random.Random(SEED).random
        self.publisher_id = publisher_id
        self.index = 0
        self.seen: set[str] = set()
        self.now = utcnow().replace(minute=0, second=0, microsecond=0)
        self.today = self.now.date()
        self.adjective = Picker(w.ADJECTIVES, w.zipf_weights(len(w.ADJECTIVES), 0.8))
        self.noun = Picker(w.NOUNS, w.zipf_weights(len(w.NOUNS), 0.8))
        self.category = Picker(category_ids, w.zipf_weights(len(category_ids), 0.5))
        self.tag = Picker(tags, w.zipf_weights(len(tags), 1.0))
        self.tag_text = {t.id: search_text_for("", [t]) for t in tags}

    def next(self) -> GameSpec:
        r, i = self.random, self.index
        self.index += 1
        korean = r() < KOREAN_SHARE
        title, slug = self._unique(korean)
        category_id = self.category(r)
        tags, count = [], TAG_COUNTS(r)
        while len(tags) < count:
            tag = self.tag(r)
            if tag not in tags:
                tags.append(tag)
        tags.sort(key=lambda tag: tag.name)  # the order Game.tags loads them in
        sales = min(int(30 * (1.0 - r()) ** -0.83) - 30, 2_000_000)  # Pareto: a few hits, a long tail
        r()  # (1 of 2) draws that once made up rating figures, kept so that game i stays
        price = PRICES(r)  # the game it is in catalogs seeded before; ratings come from seed_reviews
        days = -1 - int(r() * 90) if r() < 0.02 else int(r() * 3651)
        short, description = self._short(title, korean), self._description(title, korean)
        status = "delisted" if i >= 1000 and r() < 0.01 else "listed"
        r()  # (2 of 2)
        row = dict(
            publisher_id=self.publisher_id, title=title, slug=slug, short_description=short, description=description,
            price=price, sale_price=None, sale_starts_at=None, sale_ends_at=None, sale_announced_at=None,
            release_date=self.today - timedelta(days=days), category_id=category_id, cover_key=None,
            status=status, featured=i < 200 and i % 20 == 3, sales_count=sales, rating_count=0, rating_sum=0,
            search_text=" ".join([slug.replace("-", " ")] + [self.tag_text[t.id] for t in tags]),
            title_grams=title_grams_for(title) if korean else "",
            created_at=self.now, updated_at=self.now,
        )
        if price and r() < 0.2:
            self._sale(row)
        return GameSpec(i, row, [t.id for t in tags])

    def _title(self) -> str:
        r = self.random
        words = {"adj": self.adjective(r), "noun": self.noun(r), "place": _uniform(w.PLACES, r),
                 "sub": _uniform(w.SUBTITLES, r), "noun2": self.noun(r)}
        if r() < 0.003:
            words["noun"] = _uniform(w.RARE_WORDS, r)
        if words["noun2"] == words["noun"]:
            words["noun2"] = words["noun"] + "fall"
        return TITLE_FORMATS[TITLE_PATTERNS(r)].format(**words)

    def _korean_title(self) -> str:
        return ko.title(self.random, KO_PATTERNS(self.random))

    def _unique(self, korean: bool) -> tuple[str, str]:
        """(title, slug) not used before: a few fresh draws, then a numbered sequel."""
        for _ in range(5):
            title = self._korean_title() if korean else self._title()
            slug = _slugify(title)
            if slug not in self.seen:
                break
        candidate, n = title, 2
        while slug in self.seen:
            candidate, n = f"{title} {n}", n + 1
            slug = _slugify(candidate)
        self.seen.add(slug)
        return candidate, slug

    def _short(self, title: str, korean: bool) -> str:
        r = self.random
        if korean:
            return ko.short_description(r)
        return f"{_uniform(w.VERBS, r).capitalize()} {_uniform(w.OBJECTS, r)} in {_uniform(w.MOODS, r)} style."

    def _description(self, title: str, korean: bool) -> str:
        r = self.random
        if korean:
            return ko.description(title, r)
        return (f"**{title}** is a game where you {_uniform(w.VERBS, r)} {_uniform(w.OBJECTS, r)}.\n\n"
                f"{_uniform(w.HOOKS, r)} {_uniform(w.HOOKS, r)}")

    def _sale(self, row: dict):
        r = self.random
        discount = _uniform(w.DISCOUNTS, r)
        row["sale_price"] = row["price"] * (100 - discount) // 100 // 100 * 100
        starts = self.now + timedelta(days=int(r() * 20) - 14, hours=int(r() * 24))
        row["sale_starts_at"] = starts
        row["sale_ends_at"] = starts + timedelta(days=3 + int(r() * 19))
        # Sales that already started count as announced: a demo catalog should not
        # make the scheduler tell wishers about a hundred thousand sales at once.
        row["sale_announced_at"] = starts if starts <= self.now else None


TITLE_FORMATS = ("{adj} {noun}", "{noun} of {place}", "The {adj} {noun}", "{adj} {noun}: {sub}", "{noun} {noun2}",
                 "{adj} {noun} of {place}", "{noun} {sub}", "{adj} {noun} {noun2}", "{noun} {noun2}: {sub}",
                 "The {noun} of {place}: {sub}")
_ASCII_NON_WORD = re.compile(r"[^0-9a-z]+")


def _slugify(title: str) -> str:
    """`text.slugify`, with a shortcut for plain ASCII titles (most demo titles):
    folding only lower-cases those, and Python-level folding is most of the cost of
    generating a million games. The slug's words are also the title's search words."""
    if title.isascii():
        return "-".join(filter(None, _ASCII_NON_WORD.split(title.lower())))[:120].strip("-") or "game"
    return slugify(title)


def _insert_batch(specs: list[GameSpec]) -> int:
    """Insert the games of `specs` whose slug is free; returns how many."""
    games = Game.__table__
    slugs = [s.row["slug"] for s in specs]
    taken = set(db.session.scalars(select(games.c.slug).where(games.c.slug.in_(slugs))))
    # In popularity order: SQLite's search index is keyed by popularity, and FTS5
    # writes out a segment whenever a key lower than the previous one arrives.
    new = sorted((s for s in specs if s.row["slug"] not in taken), key=lambda s: s.row["sales_count"])
    if not new:
        return 0
    typos.remember({s.row["title"] for s in new})  # the words "did you mean" may offer
    if db.engine.dialect.name == "postgresql":
        _copy_rows(new)
    else:
        rows = db.session.execute(insert(games).returning(games.c.id, games.c.slug), [s.row for s in new])
        ids = {slug: game_id for game_id, slug in rows}
        for spec in new:
            spec.row["id"] = ids[spec.row["slug"]]
        links = [{"game_id": s.row["id"], "tag_id": tag_id} for s in new for tag_id in s.tag_ids]
        db.session.execute(insert(game_tags), links)
    return len(new)


GAME_COLUMNS = ["id", "publisher_id", "title", "slug", "short_description", "description", "price", "sale_price",
                "sale_starts_at", "sale_ends_at", "sale_announced_at", "release_date", "category_id", "cover_key",
                "status", "featured", "sales_count", "rating_sum", "rating_count", "search_text", "title_grams", "created_at",
                "updated_at"]


def _copy_rows(specs: list[GameSpec]):
    """PostgreSQL: COPY, several times faster than multi-row INSERTs. Ids are taken
    from the table's sequence first, so the tag links can be written in the same go."""
    ids = db.session.scalars(text("SELECT nextval(pg_get_serial_sequence('games', 'id')) "
                                  "FROM generate_series(1, :n)"), {"n": len(specs)}).all()
    for spec, game_id in zip(specs, ids):
        spec.row["id"] = game_id
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY games ({', '.join(GAME_COLUMNS)}) FROM STDIN") as copy:
        for spec in specs:
            copy.write_row([spec.row[column] for column in GAME_COLUMNS])
    with cursor.copy("COPY game_tags (game_id, tag_id) FROM STDIN") as copy:
        for spec in specs:
            for tag_id in spec.tag_ids:
                copy.write_row((spec.row["id"], tag_id))


def _add_covers(specs: list[GameSpec], publisher_id: int) -> int:
    """Generated covers for the demo games among `specs` that have none yet."""
    games = Game.__table__
    missing = db.session.execute(select(games.c.id, games.c.title).where(
        games.c.slug.in_([s.row["slug"] for s in specs]), games.c.cover_key.is_(None),
        games.c.publisher_id == publisher_id)).all()
    storage, updates = get_storage(), []
    for game_id, title in missing:
        key = f"games/{game_id}/cover-seed.webp"
        storage.save(key, render_cover(title, game_id), "image/webp")
        updates.append({"gid": game_id, "key": key})
    if updates:
        db.session.execute(update(games).where(games.c.id == bindparam("gid")).values(cover_key=bindparam("key")),
                           updates)
    return len(updates)
