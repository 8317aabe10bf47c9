"""Catalog: games, their categories, tags, screenshots, slugs and wishlists."""
from datetime import date, datetime

from sqlalchemy import (CheckConstraint, Column, Date, ForeignKey, Index, Integer, String, Table, Text, false,
                        case, literal_column, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..infra import memberview
from ..timeutil import UTCDateTime, utcnow
from ..web.i18n import current_locale

game_tags = Table(
    "game_tags", db.metadata,
    Column("game_id", ForeignKey("games.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


# Listed games with a sale price: the rows of the sale-boundary indexes that tell the
# store front when the next price changes (storefront.sale_boundary_queries).
SALE_INDEX_WHERE = text("games.status = 'listed' AND games.sale_price IS NOT NULL")
_LISTED_INDEX_SQL = "status = 'listed'"
_SALE_INDEX_SQL = "status = 'listed' AND sale_price IS NOT NULL"
# Listed games the staff featured, by sales (storefront.featured), the same way.
FEATURED_INDEX_WHERE = text("games.status = 'listed' AND games.featured")
_FEATURED_INDEX_SQL = "status = 'listed' AND featured"
# The discount of a game with a sale price, in permille (integer division on both
# databases), as ix_games_sale_discount holds it: storefront.on_sale orders by exactly this.
SALE_DISCOUNT = literal_column("(games.price - games.sale_price) * 1000 / games.price")


class _Term:
    """A category or tag: `name` is its English name (and the source of its slug),
    `name_ko` its Korean one; pages show `label`, the one of the request's language."""

    @property
    def label(self) -> str:
        return self.name_ko if self.name_ko and current_locale() == "ko" else self.name


class Category(_Term, db.Model):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    name_ko: Mapped[str | None] = mapped_column(String(40))
    slug: Mapped[str] = mapped_column(String(60), unique=True)


class Tag(_Term, db.Model):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    name_ko: Mapped[str | None] = mapped_column(String(40))
    slug: Mapped[str] = mapped_column(String(60), unique=True)


class Game(db.Model):
    __tablename__ = "games"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_nonnegative"),
        CheckConstraint("sale_price IS NULL OR (sale_price >= 0 AND sale_price < price)", name="sale_below_price"),
        CheckConstraint("status IN ('listed', 'delisted')", name="status"),
        CheckConstraint("age_rating IN ('all', '12', '15', '19')", name="age_rating"),
        Index("ix_games_listed_release", "status", "release_date"),
        Index("ix_games_listed_sales", "status", "sales_count"),
        Index("ix_games_sale_starts", "sale_starts_at",
              sqlite_where=text(_SALE_INDEX_SQL), postgresql_where=text(_SALE_INDEX_SQL)),
        Index("ix_games_sale_ends", "sale_ends_at",
              sqlite_where=text(_SALE_INDEX_SQL), postgresql_where=text(_SALE_INDEX_SQL)),
        Index("ix_games_featured", "sales_count",
              sqlite_where=text(_FEATURED_INDEX_SQL), postgresql_where=text(_FEATURED_INDEX_SQL)),
        Index("ix_games_sale_discount", text("((price - sale_price) * 1000 / price) DESC"), text("sales_count DESC"),
              "id", sqlite_where=text(_SALE_INDEX_SQL), postgresql_where=text(_SALE_INDEX_SQL)),
        # /games in its default order, page N's ids from the index alone; the ids of listed
        # games, for a tag page's count (migration 0024_list_pages)
        Index("ix_games_listed_bestselling", text("sales_count DESC"), "title", "id", "status",
              sqlite_where=text(_LISTED_INDEX_SQL), postgresql_where=text(_LISTED_INDEX_SQL)),
        Index("ix_games_listed_id", "id", "status",
              sqlite_where=text(_LISTED_INDEX_SQL), postgresql_where=text(_LISTED_INDEX_SQL)),
        # The release job's work list: games whose release nobody was told about yet.
        Index("ix_games_unannounced_release", "release_date",
              sqlite_where=text("release_announced_at IS NULL"), postgresql_where=text("release_announced_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    publisher_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(140), unique=True)
    short_description: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")  # safe Markdown subset
    price: Mapped[int] = mapped_column(Integer)  # KRW, whole won
    sale_price: Mapped[int | None] = mapped_column(Integer)
    sale_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sale_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once wishers were told about the current sale; cleared when the sale changes.
    sale_announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    release_date: Mapped[date] = mapped_column(Date, default=date.today)
    # GRAC class (catalog/ratings.py): all, 12, 15 or 19 (청소년이용불가).
    age_rating: Mapped[str] = mapped_column(String(4), default="all", server_default="all")
    # Before release_date: may it be bought as a pre-order? (set by the publisher)
    preorder_allowed: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Set by the release job once buyers and wishers were told (library/release.py);
    # cleared when the publisher moves the release date into the future.
    release_announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    # A DLC's base game: buying it needs the base game (docs/gifts-and-dlc.md, DLC).
    base_game_id: Mapped[int | None] = mapped_column(ForeignKey("games.id", ondelete="SET NULL"), index=True)
    cover_key: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="listed")
    # Set when an admin delists the game (the reason the publisher was told); while set,
    # only an admin can list it again.
    moderation_note: Mapped[str | None] = mapped_column(String(300))
    featured: Mapped[bool] = mapped_column(default=False)
    sales_count: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    rating_count: Mapped[int] = mapped_column(Integer, default=0)
    # Normalised (lower-cased, accents stripped) title + tags; the full-text index reads it.
    search_text: Mapped[str] = mapped_column(Text, default="")
    # The title's Hangul bigrams (text.hangul_grams), so search finds "늑대" in "흰늑대".
    title_grams: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    publisher = relationship("User", lazy="joined")
    category = relationship(Category, lazy="joined")
    tags = relationship(Tag, secondary=game_tags, lazy="selectin", order_by=Tag.name)
    screenshots = relationship("Screenshot", lazy="selectin", order_by="Screenshot.position",
                               cascade="all, delete-orphan")
    base_game = relationship("Game", remote_side=[id], lazy="select")

    def sale_active(self, now: datetime | None = None) -> bool:
        if self.sale_price is None:
            return False
        now = now or utcnow()
        if self.sale_starts_at and now < self.sale_starts_at:
            return False
        if self.sale_ends_at and now >= self.sale_ends_at:
            return False
        return True

    def current_price(self, now: datetime | None = None) -> int:
        return self.sale_price if self.sale_active(now) else self.price

    @property
    def discount_percent(self) -> int:
        if not self.sale_active() or not self.price:
            return 0
        return round(100 * (self.price - self.sale_price) / self.price)

    @property
    def rating_average(self) -> float | None:
        return round(self.rating_sum / self.rating_count, 1) if self.rating_count else None

    @property
    def is_listed(self) -> bool:
        return self.status == "listed"

    @classmethod
    def effective_price(cls, now: datetime):
        """SQL for the price charged at `now` (sale price inside its window)."""
        on_sale = (cls.sale_price.is_not(None)
                   & ((cls.sale_starts_at.is_(None)) | (cls.sale_starts_at <= now))
                   & ((cls.sale_ends_at.is_(None)) | (cls.sale_ends_at > now)))
        return case((on_sale, cls.sale_price), else_=cls.price)


class Screenshot(db.Model):
    __tablename__ = "screenshots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(255))
    position: Mapped[int] = mapped_column(Integer, default=0)


class GameSlug(db.Model):
    """Slugs a game used to have; old links redirect to the current one."""
    __tablename__ = "game_slugs"
    slug: Mapped[str] = mapped_column(String(140), primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"), index=True)


class WishlistItem(db.Model):
    __tablename__ = "wishlist_items"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GameDailyViews(db.Model):
    """Page views of one game on one Korean calendar day. Counted in Redis while the day
    runs (catalog/rankings.py) and copied here by the `catalog-persist-views` job before
    Redis lets the day's set expire; one row per (game, day), so copying again overwrites."""
    __tablename__ = "game_daily_views"
    game_id: Mapped[int] = mapped_column(ForeignKey("games.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    views: Mapped[int] = mapped_column(Integer, default=0)


memberview.watch(WishlistItem.__table__)  # a member's cached parts of a page (overlay)
