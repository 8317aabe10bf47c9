"""Store-front queries: the home page rows and the /games browser.

Only listed games ever leave this module. Prices are compared with
`Game.effective_price(now)`, so a sale counts exactly inside its window.
"""
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import Float, and_, case, cast, false, func, select, true

from ..web.numbers import page_number
from ..extensions import db
from ..timeutil import to_seoul, utcnow
from . import rankings
from .models import FEATURED_INDEX_WHERE, SALE_DISCOUNT, SALE_INDEX_WHERE, Category, Game, Tag, game_tags
from .services import cache_ttl

ROW_SIZE = 8


def listed():
    return select(Game).where(Game.status == "listed")


def games_by_ids(ids: list[int]) -> list[Game]:
    """Listed games for `ids`, in the order given (unknown and delisted ones dropped)."""
    if not ids:
        return []
    found = {g.id: g for g in db.session.scalars(listed().where(Game.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def on_sale_clause(now: datetime):
    """Listed games whose sale runs at `now` (a sale price is always below the price). The
    sale indexes' condition is written out literally so both databases read them."""
    return and_(SALE_INDEX_WHERE, (Game.sale_starts_at.is_(None)) | (Game.sale_starts_at <= now),
                (Game.sale_ends_at.is_(None)) | (Game.sale_ends_at > now))


def featured(now: datetime, n: int = ROW_SIZE) -> list[Game]:
    """Games the staff featured; until there are any, the best sellers stand in."""
    order = (Game.sales_count.desc(), Game.id.desc())
    # The condition of ix_games_featured, written out so both databases read that index.
    games = list(db.session.scalars(select(Game).where(FEATURED_INDEX_WHERE).order_by(*order).limit(n)))
    return games or list(db.session.scalars(listed().order_by(*order).limit(n)))


def new_releases(now: datetime, n: int = ROW_SIZE) -> list[Game]:
    today = to_seoul(now).date()
    return list(db.session.scalars(
        listed().where(Game.release_date <= today)
        .order_by(Game.release_date.desc(), Game.id.desc()).limit(n)))


def on_sale(now: datetime, n: int = ROW_SIZE) -> list[Game]:
    """Biggest discounts first: the first entries of ix_games_sale_discount (listed games
    with a sale price, by discount) whose sale is running at `now`. The index's condition
    and expression are written out literally so both databases use it."""
    return list(db.session.scalars(
        select(Game).where(on_sale_clause(now)).order_by(SALE_DISCOUNT.desc(), Game.sales_count.desc(), Game.id).limit(n)))


def top_sellers(now: datetime, n: int = ROW_SIZE) -> list[Game]:
    """Redis ranking first; the database's sales counts fill the row when it is short
    (a fresh store, or Redis down)."""
    games = games_by_ids(rankings.top_sellers(n * 2))[:n]
    if len(games) < n:
        have = [g.id for g in games]
        games += db.session.scalars(
            listed().where(Game.id.not_in(have) if have else true(), Game.sales_count > 0)
            .order_by(Game.sales_count.desc(), Game.id).limit(n - len(games)))
    return games


def trending(now: datetime, n: int = ROW_SIZE) -> list[Game]:
    return games_by_ids(rankings.trending(n * 2, now))[:n]


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.name)))


def tags() -> list[Tag]:
    return list(db.session.scalars(select(Tag).order_by(Tag.name)))


def sale_boundary_queries(now: datetime):
    """The next sale start and the next sale end after `now` among listed games with a
    sale price. Each is the first entry past `now` of a partial index
    (ix_games_sale_starts / ix_games_sale_ends, migration 0011), so it costs the same at
    any catalog size. The index's condition is written out literally: a bound
    parameter would stop SQLite (and a generic PostgreSQL plan) from proving the query
    stays inside the partial index."""
    return [select(func.min(column)).where(SALE_INDEX_WHERE, column > now)
            for column in (Game.sale_starts_at, Game.sale_ends_at)]


def seconds_until_price_change(now: datetime, game: Game | None = None) -> int | None:
    """Seconds until the next sale starts or ends (of `game`, or of any listed game):
    cached prices must not outlive that moment."""
    if game is not None:
        moments = [t for t in (game.sale_starts_at, game.sale_ends_at) if t and t > now]
        soonest = min(moments, default=None) if game.sale_price is not None else None
    else:
        moments = [db.session.scalar(query) for query in sale_boundary_queries(now)]
        soonest = min((m for m in moments if m is not None), default=None)
    if soonest is None:
        return None
    return max(1, int((soonest - now).total_seconds()) + 1)


def price_ttl(now: datetime, game: Game | None = None) -> int:
    """Cache lifetime for fragments that show prices."""
    ttl = cache_ttl()
    until = seconds_until_price_change(now, game)
    return min(ttl, until) if until else ttl


# --- /games -------------------------------------------------------------------------

PAGE_SIZE = 24
MAX_PAGE = 500           # the deepest page: its OFFSET stays under 12,000 rows at any catalog size
COUNT_CAP = 10_000       # past this a list says "10,000+ games" instead of counting them all
MAX_PRICE = 10_000_000
MAX_TAGS = 10
MAX_SEARCH_HITS = 1000
SORTS = {  # value → label (translated when shown)
    "relevance": _l("Relevance"),
    "bestselling": _l("Best selling"),
    "newest": _l("Newest"),
    "price_asc": _l("Price: low to high"),
    "price_desc": _l("Price: high to low"),
    "rating": _l("Top rated"),
}


@dataclass
class BrowseQuery:
    """What the shopper asked for, already cleaned: unknown values are dropped and
    numbers clamped, so any URL renders a normal page. An unknown `sort` is kept in
    `unknown_sort` so the page can say it used the default order instead."""
    q: str = ""
    category: str | None = None
    tags: list[str] = field(default_factory=list)
    price_min: int | None = None
    price_max: int | None = None
    on_sale: bool = False
    free: bool = False
    sort: str = "relevance"
    page: int = 1
    unknown_sort: str | None = None

    @classmethod
    def from_args(cls, args) -> "BrowseQuery":
        price_min, price_max = _price(args.get("price_min")), _price(args.get("price_max"))
        if price_min is not None and price_max is not None and price_min > price_max:
            price_min, price_max = price_max, price_min
        sort = args.get("sort", "")
        unknown_sort = (_text(sort, 40) or None) if sort not in SORTS else None
        tags = []
        for raw in args.getlist("tag")[:50]:
            slug = _text(raw, 60)
            if slug and slug not in tags:
                tags.append(slug)
        return cls(
            q=_text(args.get("q"), 100),
            category=_text(args.get("category"), 60) or None,
            tags=tags[:MAX_TAGS],
            price_min=price_min,
            price_max=price_max,
            on_sale=_flag(args.get("on_sale")),
            free=_flag(args.get("free")),
            sort=sort if sort in SORTS else "relevance",
            page=page_number(args.get("page"), MAX_PAGE),
            unknown_sort=unknown_sort,
        )

    @property
    def default_sort_label(self) -> str:
        """What the default order is called: relevance for a text query, else best selling."""
        return SORTS["relevance"] if self.q else SORTS["bestselling"]

    @property
    def effective_sort(self) -> str:
        """Relevance only means something for a text query; otherwise best selling."""
        return "bestselling" if self.sort == "relevance" and not self.q else self.sort

    def sort_choices(self) -> list[tuple[str, str, bool]]:
        """(value, label, selected) for the sort menu. Its first choice is the default
        (value "", the same as no `sort`), labelled with what it does: relevance for a
        text query, best selling without one (where "Best selling" is not offered twice)."""
        if self.q:
            default, others = SORTS["relevance"], [k for k in SORTS if k != "relevance"]
        else:
            default, others = SORTS["bestselling"], [k for k in SORTS if k not in ("relevance", "bestselling")]
        current = "" if self.effective_sort == ("relevance" if self.q else "bestselling") else self.sort
        return [("", default, current == "")] + [(k, SORTS[k], current == k) for k in others]

    def to_args(self, **changes) -> dict:
        """Query-string arguments for this query (defaults left out), e.g. for links."""
        data = {"q": self.q or None, "category": self.category, "tag": self.tags or None,
                "price_min": self.price_min, "price_max": self.price_max,
                "on_sale": 1 if self.on_sale else None, "free": 1 if self.free else None,
                "sort": self.sort if self.sort != "relevance" else None,  # the default
                "page": self.page if self.page > 1 else None}
        data.update(changes)
        return {k: v for k, v in data.items() if v not in (None, "", [])}

    @property
    def is_filtered(self) -> bool:
        return bool(self.q or self.category or self.tags or self.price_min is not None
                    or self.price_max is not None or self.on_sale or self.free)


@dataclass
class BrowsePage:
    query: BrowseQuery
    games: list[Game]
    total: int
    page: int
    pages: int
    category: Category | None
    tags: list[Tag]
    more: bool = False  # more matches than COUNT_CAP: `total` is the cap, shown as "10,000+"

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def page_numbers(self, around: int = 2) -> list[int | None]:
        """1 … 4 5 [6] 7 8 … 20 (None marks a gap)."""
        shown = {1, self.pages, *range(self.page - around, self.page + around + 1)}
        numbers, last = [], 0
        for n in sorted(p for p in shown if 1 <= p <= self.pages):
            if n - last > 1:
                numbers.append(None)
            numbers.append(n)
            last = n
        return numbers


def browse(query: BrowseQuery, now: datetime | None = None) -> BrowsePage:
    """One page of listed games matching `query`. The page number is clamped to the
    last page. Matches are counted only up to MAX_PAGE pages (a bounded index walk);
    past COUNT_CAP the page says "10,000+"."""
    now = now or utcnow()
    conditions = [Game.status == "listed"]
    price = Game.effective_price(now)

    category = None
    if query.category:
        category = db.session.scalar(select(Category).where(Category.slug == query.category))
        if category is not None:
            conditions.append(Game.category_id == category.id)
    tags = []
    if query.tags:
        tags = list(db.session.scalars(select(Tag).where(Tag.slug.in_(query.tags))))
        tags.sort(key=lambda t: query.tags.index(t.slug))
        conditions += [Game.id.in_(select(game_tags.c.game_id).where(game_tags.c.tag_id == tag.id))
                       for tag in tags]  # every chosen tag
    if query.price_min is not None:
        conditions.append(price >= query.price_min)
    if query.price_max is not None:
        conditions.append(price <= query.price_max)
    if query.on_sale:
        conditions.append(on_sale_clause(now))
    if query.free:
        conditions.append(price == 0)

    hit_ids = None
    if query.q:
        from .search import search_ids

        hit_ids = search_ids(query.q, limit=MAX_SEARCH_HITS).ids
        conditions.append(Game.id.in_(hit_ids) if hit_ids else false())

    where = and_(*conditions)
    # Counted up to what the deepest page can show, never the whole catalog.
    reachable = MAX_PAGE * PAGE_SIZE
    counted = db.session.scalar(select(func.count()).select_from(
        select(Game.id).where(where).limit(reachable + 1).subquery())) or 0
    pages = max(1, -(-min(counted, reachable) // PAGE_SIZE))
    page = min(query.page, pages)
    # The page's ids first, then its games: in the default order the ids come from a
    # covering index alone (ix_games_listed_bestselling), so a deep page reads index
    # entries, not the rows it skips.
    ids = list(db.session.scalars(
        select(Game.id).where(where).order_by(*_order(query.effective_sort, now, hit_ids))
        .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    found = {game.id: game for game in db.session.scalars(select(Game).where(Game.id.in_(ids)))} if ids else {}
    games = [found[game_id] for game_id in ids if game_id in found]
    more = counted > COUNT_CAP
    return BrowsePage(query=query, games=games, total=COUNT_CAP if more else counted, page=page, pages=pages,
                      category=category, tags=tags, more=more)


def _order(sort: str, now: datetime, hit_ids: list[int] | None):
    price = Game.effective_price(now)
    average = case((Game.rating_count > 0, cast(Game.rating_sum, Float) / Game.rating_count), else_=-1.0)
    if sort == "relevance" and hit_ids:
        return [case({gid: i for i, gid in enumerate(hit_ids)}, value=Game.id, else_=len(hit_ids)), Game.id]
    return {
        "newest": [Game.release_date.desc(), Game.id.desc()],
        "price_asc": [price.asc(), Game.title, Game.id],
        "price_desc": [price.desc(), Game.title, Game.id],
        "rating": [average.desc(), Game.rating_count.desc(), Game.id],
    }.get(sort, [Game.sales_count.desc(), Game.title, Game.id])


def _text(raw, max_length: int) -> str:
    """Printable text only: PostgreSQL refuses NUL bytes, and nothing we match has control characters."""
    return "".join(ch for ch in (raw or "")[:max_length * 2] if ch.isprintable()).strip()[:max_length]


def _price(raw) -> int | None:
    if raw is None or not str(raw).strip():
        return None
    text = str(raw).strip().replace(",", "").replace("₩", "")
    try:
        value = int(float(text[:15]))
    except (ValueError, OverflowError):
        return None
    return max(0, min(MAX_PRICE, value))


def _flag(raw) -> bool:
    return (raw or "").strip().lower() in ("1", "true", "on", "yes")
