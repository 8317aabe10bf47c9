"""Product keys: a game's pool of keys for another launcher, one per paid copy.

The rule (docs/keys.md):
- A publisher uploads a pool as CSV; the whole file is checked first, and either every
  new key is stored or nothing is. Keys are encrypted at rest (Fernet) and found by a
  keyed HMAC (`key_hash`), so a duplicate is ignored without decrypting anything.
- Checkout reserves one available key per keyed game for the new order (`reserve`, an
  `orders.hooks` plug-in registered by orders). The pick is one conditional UPDATE whose
  subquery takes the row with FOR UPDATE SKIP LOCKED on PostgreSQL (SQLite's single
  writer serialises it), so two checkouts never hold the same key. A game whose pool is
  empty is sold out: checkout refuses it with `SoldOut`.
- Payment turns the reservation into the buyer's key (`assign`, in the paid
  transaction). Because the key was held since checkout, a paid order never lacks one.
  A game that got its first pool after the order was placed was sold without a key; it
  gets one at payment if one is free.
- An order that ends unpaid puts its keys back (`release`); a refund voids them
  (`void`): a key someone has seen is never sold again.
- Plain keys leave this module only through `keys_for_user` / `keys_for_order`, which
  return the owner's keys; nothing here logs a key. A pre-order's key is assigned at
  payment but shown only once the release job unlocked the copy (library/release.py).
"""
import base64
import csv
import hashlib
import hmac
import io
import logging
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import and_, case, func, insert, select, update
from sqlalchemy.orm import aliased

from ..errors import DomainError
from ..extensions import db
from ..timeutil import utcnow
from ..web.i18n import number as format_number
from .models import LibraryEntry, ProductKey

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1024 * 1024
MAX_ROWS = 10_000
MAX_KEY_LENGTH = 200
MAX_REPORTED_ERRORS = 10


class KeyPoolError(DomainError):
    message = _l("That key file can't be used.")


class SoldOut(DomainError):
    message = _l("Sold out.")


@dataclass
class UploadResult:
    added: int = 0
    duplicates: int = 0


@dataclass
class PoolCounts:
    available: int = 0
    reserved: int = 0
    assigned: int = 0
    void: int = 0

    @property
    def total(self) -> int:
        return self.available + self.reserved + self.assigned + self.void


# --- encryption --------------------------------------------------------------------

def _derive(info: bytes) -> bytes:
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode() if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"playcation-product-keys", info=info).derive(secret)


def _fernet() -> Fernet:
    configured = current_app.config.get("KEYS_ENCRYPTION_KEY")
    if configured:
        return Fernet(configured)
    return Fernet(base64.urlsafe_b64encode(_derive(b"fernet")))


def _hash(plain: str) -> str:
    return hmac.new(_derive(b"hash"), plain.encode(), hashlib.sha256).hexdigest()


def _decrypt(fernet: Fernet, ciphertext: str) -> str | None:
    try:
        return fernet.decrypt(ciphertext.encode()).decode()
    except InvalidToken:  # the encryption key changed: say so without the ciphertext
        log.error("a product key could not be decrypted (KEYS_ENCRYPTION_KEY or SECRET_KEY changed?)")
        return None


# --- upload ------------------------------------------------------------------------

def parse_pool(data: bytes) -> list[str]:
    """The keys of a CSV file: one key per line, or a header row with a `key` column.
    Blank lines are skipped. Raises KeyPoolError naming the bad rows."""
    if len(data) > MAX_FILE_BYTES:
        raise KeyPoolError(_("The file is larger than %(kb)d KB. Split it into smaller files.", kb=MAX_FILE_BYTES // 1024))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise KeyPoolError(_("The file is not UTF-8 text. Save it as CSV (UTF-8) and try again.")) from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise KeyPoolError(_("The file is not valid CSV (%(error)s).", error=exc)) from None
    column, start = 0, 0
    if rows and any(cell.strip().lower() == "key" for cell in rows[0]):
        column = [cell.strip().lower() for cell in rows[0]].index("key")
        start = 1
    keys, errors = [], []
    for number, row in enumerate(rows[start:], start=start + 1):
        if not any(cell.strip() for cell in row):
            continue
        if start == 0 and len(row) != 1:
            errors.append(_("Row %(row)d: %(columns)d columns; put one key per line or add a header row with a "
                            "“key” column.", row=number, columns=len(row)))
            continue
        key = row[column].strip() if column < len(row) else ""
        if not key:
            errors.append(_("Row %(row)d: the key is empty.", row=number))
        elif len(key) > MAX_KEY_LENGTH:
            errors.append(_("Row %(row)d: the key is longer than %(max)d characters.", row=number, max=MAX_KEY_LENGTH))
        elif not key.isprintable():
            errors.append(_("Row %(row)d: the key contains control characters.", row=number))
        else:
            keys.append(key)
        if len(keys) > MAX_ROWS:
            raise KeyPoolError(_("The file has more than %(max)s keys. Split it into smaller files.",
                                 max=format_number(MAX_ROWS)))
    if errors:
        more = len(errors) - MAX_REPORTED_ERRORS
        shown = errors[:MAX_REPORTED_ERRORS] + ([_("…and %(num)d more.", num=more)] if more > 0 else [])
        raise KeyPoolError(_("Nothing was added.") + " " + " ".join(shown))
    if not keys:
        raise KeyPoolError(_("The file holds no keys."))
    return keys


def upload_pool(game_id: int, data: bytes) -> UploadResult:
    """Add the file's keys to the game's pool in one transaction; keys already in the pool
    (or repeated in the file) are counted as duplicates and skipped. Raises KeyPoolError."""
    keys = parse_pool(data)
    hashed = {}
    for key in keys:
        hashed.setdefault(_hash(key), key)
    existing = set()
    hashes_ = list(hashed)
    for i in range(0, len(hashes_), 500):
        existing.update(db.session.scalars(select(ProductKey.key_hash).where(
            ProductKey.game_id == game_id, ProductKey.key_hash.in_(hashes_[i:i + 500]))))
    fernet, now = _fernet(), utcnow()
    rows = [{"game_id": game_id, "key_hash": h, "ciphertext": fernet.encrypt(k.encode()).decode(),
             "status": "available", "created_at": now} for h, k in hashed.items() if h not in existing]
    try:
        if rows:
            db.session.execute(insert(ProductKey), rows)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        if "unique" in str(exc).lower() or "duplicate" in str(exc).lower():
            raise KeyPoolError(_("Another upload for this game ran at the same time. Nothing was added; "
                                 "try again.")) from None
        raise
    return UploadResult(added=len(rows), duplicates=len(keys) - len(rows))


def pool_counts(game_id: int) -> PoolCounts:
    counts = dict(db.session.execute(select(ProductKey.status, func.count()).where(
        ProductKey.game_id == game_id).group_by(ProductKey.status)).all())
    return PoolCounts(**{s: counts.get(s, 0) for s in ("available", "reserved", "assigned", "void")})


# --- stock -------------------------------------------------------------------------

def sold_out_ids(game_ids: list[int]) -> set[int]:
    """Which of the games have a key pool with no key left to sell (one query)."""
    if not game_ids:
        return set()
    available = func.sum(case((ProductKey.status == "available", 1), else_=0))
    return set(db.session.scalars(select(ProductKey.game_id).where(ProductKey.game_id.in_(game_ids))
                                  .group_by(ProductKey.game_id).having(available == 0)))


def _keyed_game_ids(game_ids: list[int]) -> set[int]:
    return set(db.session.scalars(select(ProductKey.game_id).where(ProductKey.game_id.in_(game_ids)).distinct()))


def _take(game_id: int, order_id: int, status: str, **values) -> bool:
    """Move one available key of the game to the order, atomically: the subquery's row
    is locked (and others' locked rows skipped) on PostgreSQL, and the UPDATE re-checks
    `available`, so a key is never taken twice."""
    candidate = aliased(ProductKey)  # an alias, so the subquery is not correlated with the UPDATE
    pick = (select(candidate.id).where(candidate.game_id == game_id, candidate.status == "available")
            .order_by(candidate.id).limit(1).with_for_update(skip_locked=True).scalar_subquery())
    result = db.session.execute(update(ProductKey).where(ProductKey.id == pick, ProductKey.status == "available")
                                .values(status=status, order_id=order_id, **values)
                                .execution_options(synchronize_session=False))
    return result.rowcount == 1


# --- the checkout plug-in (orders.hooks), each in the order's transaction ------------

def reserve(order, quote=None):
    """Hold one key per keyed game of a new order. Raises SoldOut (the caller rolls back)."""
    from ..catalog.models import Game

    game_ids = [line.game_id for line in order.lines]
    sold_out = [gid for gid in sorted(_keyed_game_ids(game_ids)) if not _take(gid, order.id, "reserved")]
    if sold_out:
        titles = ", ".join(db.session.scalars(select(Game.title).where(Game.id.in_(sold_out)).order_by(Game.title)))
        raise SoldOut(_("Sold out: %(titles)s. Remove it from your cart.", titles=titles))


def assign(order):
    """The paid transaction: each reserved key becomes the buyer's; a gift line's key
    belongs to nobody until the gift is claimed (`hand_over`), so the giver never sees it."""
    now = utcnow()
    db.session.execute(update(ProductKey).where(ProductKey.order_id == order.id, ProductKey.status == "reserved")
                       .values(status="assigned", user_id=order.user_id, assigned_at=now)
                       .execution_options(synchronize_session=False))
    game_ids = [line.game_id for line in order.lines]
    gifts = {line.game_id for line in order.lines if getattr(line, "gift_to", None)}
    if gifts:
        db.session.execute(update(ProductKey).where(ProductKey.order_id == order.id, ProductKey.game_id.in_(gifts))
                           .values(user_id=None).execution_options(synchronize_session=False))
    held = set(db.session.scalars(select(ProductKey.game_id).where(ProductKey.order_id == order.id)))
    for game_id in sorted(_keyed_game_ids(game_ids) - held):
        # The pool arrived after checkout: this copy was sold without a key, so it gets one if any is left.
        owner = None if game_id in gifts else order.user_id
        if not _take(game_id, order.id, "assigned", user_id=owner, assigned_at=now):
            log.warning("order %s: game %s got its key pool after checkout and has none left", order.id, game_id)


def hand_over(order_id: int, game_id: int, user_id: int):
    """A claimed gift: its key becomes the claimer's, in the claim's transaction."""
    db.session.execute(update(ProductKey).where(ProductKey.order_id == order_id, ProductKey.game_id == game_id,
                                                ProductKey.status == "assigned")
                       .values(user_id=user_id).execution_options(synchronize_session=False))


def release(order_id: int):
    """An order ended unpaid: its reserved keys go back to the pool."""
    db.session.execute(update(ProductKey).where(ProductKey.order_id == order_id, ProductKey.status == "reserved")
                       .values(status="available", order_id=None)
                       .execution_options(synchronize_session=False))


def void(order):
    """A refund: the order's keys are void and never sold again."""
    db.session.execute(update(ProductKey).where(ProductKey.order_id == order.id,
                                                ProductKey.status.in_(("reserved", "assigned")))
                       .values(status="void").execution_options(synchronize_session=False))


def void_line(order, line, share=None):
    """A per-game refund (the `line_refunded` hook): that game's key of the order is void."""
    db.session.execute(update(ProductKey).where(ProductKey.order_id == order.id, ProductKey.game_id == line.game_id,
                                                ProductKey.status.in_(("reserved", "assigned")))
                       .values(status="void").execution_options(synchronize_session=False))


# --- reading (owners only) ---------------------------------------------------------

def keys_for_user(user_id: int) -> dict[int, str]:
    """{game id: plain key} of the user's assigned keys, for /library."""
    return _plain(and_(ProductKey.user_id == user_id, ProductKey.status == "assigned"))


def keys_for_order(order_id: int, user_id: int) -> dict[int, str]:
    """{game id: plain key} of an order's keys, only when `user_id` owns them (the receipt)."""
    return _plain(and_(ProductKey.order_id == order_id, ProductKey.user_id == user_id,
                       ProductKey.status == "assigned"))


def _plain(condition) -> dict[int, str]:
    locked = select(LibraryEntry.id).where(LibraryEntry.user_id == ProductKey.user_id,
                                           LibraryEntry.game_id == ProductKey.game_id,
                                           LibraryEntry.awaiting_release.is_(True)).exists()
    rows = db.session.execute(select(ProductKey.game_id, ProductKey.ciphertext).where(condition, ~locked)).all()
    if not rows:
        return {}
    fernet = _fernet()
    return {game_id: _decrypt(fernet, ciphertext) or _("(unreadable: contact support)") for game_id, ciphertext in rows}
