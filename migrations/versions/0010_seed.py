"""ratings from review rows

Revision ID: 0010_seed
Revises: 0010_budget

A game's rating_sum/rating_count are the sum and count of its review rows (the
reviews service keeps them so). Databases filled by the earlier demo seeding hold
made-up figures for games without reviews; this sets every game's columns from its
rows. Data only: nothing to undo.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0010_seed'
down_revision = '0010_budget'
branch_labels = None
depends_on = None


# Games with made-up figures and no reviews, then every game with reviews.
RECOUNT = [
    "UPDATE games SET rating_count = 0, rating_sum = 0 "
    "WHERE (rating_count <> 0 OR rating_sum <> 0) "
    "AND NOT EXISTS (SELECT 1 FROM reviews WHERE reviews.game_id = games.id)",
    "UPDATE games SET "
    "rating_count = (SELECT count(*) FROM reviews WHERE reviews.game_id = games.id), "
    "rating_sum = (SELECT sum(rating) FROM reviews WHERE reviews.game_id = games.id) "
    "WHERE id IN (SELECT game_id FROM reviews)",
]


def upgrade():
    for statement in RECOUNT:
        op.execute(statement)


def downgrade():
    pass
