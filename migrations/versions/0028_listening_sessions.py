"""listening sessions on the history: each listen knows the session it belongs to; the
co-listening rows keep their weight

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-02 00:30:00

"""

from datetime import timedelta

from alembic import op
import sqlalchemy as sa


revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# recommend.SESSION_GAP when this was written (a migration does not import the app).
SESSION_GAP = timedelta(minutes=30)
BATCH = 10_000

plays = sa.table(
    "play_events",
    sa.column("id", sa.Integer()),
    sa.column("user_id", sa.Integer()),
    sa.column("played_at", sa.DateTime(timezone=True)),
    sa.column("session_start", sa.Integer()),
)


def upgrade():
    with op.batch_alter_table("play_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_start", sa.Integer(), nullable=True))
        batch_op.create_index("ix_play_events_user_session", ["user_id", "session_start", "track_id"], unique=False)
    with op.batch_alter_table("co_listens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weight", sa.Float(), nullable=True))
    # Each existing listen gets its session: the id of the first listen of a run of
    # listens less than SESSION_GAP apart. One person at a time, so memory stays bounded.
    bind = op.get_bind()
    statement = sa.update(plays).where(plays.c.id == sa.bindparam("play")).values(session_start=sa.bindparam("start"))
    for person in bind.execute(sa.select(plays.c.user_id).distinct()).scalars().all():
        updates = []
        last = start = None
        for play_id, at in bind.execute(
            sa.select(plays.c.id, plays.c.played_at)
            .where(plays.c.user_id == person)
            .order_by(plays.c.played_at, plays.c.id)
        ):
            if last is None or at - last > SESSION_GAP:
                start = play_id
            last = at
            updates.append({"play": play_id, "start": start})
        for first in range(0, len(updates), BATCH):
            bind.execute(statement, updates[first : first + BATCH])


def downgrade():
    with op.batch_alter_table("co_listens", schema=None) as batch_op:
        batch_op.drop_column("weight")
    with op.batch_alter_table("play_events", schema=None) as batch_op:
        batch_op.drop_index("ix_play_events_user_session")
        batch_op.drop_column("session_start")
