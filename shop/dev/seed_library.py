"""Demo builds and the demo customer's library, so `make run` shows what a buyer gets:
the first DEMO_BUILDS demo games get a small Windows build, put through the publisher's
own path (start the upload, write it in chunks, complete with its SHA-256, the worker's
read-back check, publish), and the demo customer owns the first OWNED of them, bought
through the cart and the sandbox gateway. Rerunning adds only what is missing."""
import hashlib
import io
import logging

from sqlalchemy import select

from ..accounts.models import User
from ..catalog.models import Game
from ..extensions import db
from ..library import builds
from ..library.build_models import Build
from ..library.services import owned_game_ids
from ..library.tasks import verify_build

log = logging.getLogger(__name__)
DEMO_BUILDS = 3
OWNED = 2
BUILD_BYTES = 256 * 1024


def demo_file(slug: str) -> bytes:
    """Deterministic bytes standing in for an installer (the same for the same game)."""
    seed, out = slug.encode(), bytearray()
    while len(out) < BUILD_BYTES:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:BUILD_BYTES])


def seed_library(customer_email: str) -> tuple[int, int]:
    """Returns (builds published, games bought) now."""
    from .seed_reviews import _buy

    games = db.session.scalars(select(Game).where(Game.status == "listed", Game.base_game_id.is_(None),
                                                  Game.age_rating == "all").order_by(Game.id).limit(DEMO_BUILDS)).all()
    published = sum(_publish_demo_build(game) for game in games)
    customer = db.session.scalar(select(User).where(User.email == customer_email))
    if customer is None or not games:
        return published, 0
    wanted = [g for g in games[:OWNED] if g.id not in owned_game_ids(customer.id, [g.id for g in games[:OWNED]])]
    if wanted:
        _buy(customer, wanted)
    return published, len(owned_game_ids(customer.id, [g.id for g in wanted])) if wanted else 0


def _publish_demo_build(game: Game) -> int:
    if db.session.scalar(select(Build.id).where(Build.game_id == game.id, Build.status == "published").limit(1)):
        return 0
    data = demo_file(game.slug)
    build = builds.start_upload(game.id, game.publisher_id, version="1.0.0", platform="windows",
                                notes="First release.", filename=f"{game.slug}-setup.exe", size=len(data))
    step = builds.chunk_size()
    for offset in range(0, len(data), step):
        piece = data[offset:offset + step]
        builds.write_chunk(build, offset, io.BytesIO(piece), len(piece))
    builds.complete_upload(build, hashlib.sha256(data).hexdigest())
    if verify_build(build.id) != "ready":  # the worker does it too; the second run finds it done
        log.warning("demo build of %s failed its check", game.slug)
        return 0
    builds.publish(db.session.get(Build, build.id))
    return 1
