"""listening sessions on the history: each listen knows the session it belongs to

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
    # Each existing listen gets its session: the id of the first listen of a run of
    # listens less than SESSION_GAP apart, per person.
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(plays.c.id, plays.c.user_id, plays.c.played_at).order_by(
            plays.c.user_id, plays.c.played_at, plays.c.id
        )
    ).all()
    updates = []
    person = last = start = None
    for play_id, user_id, at in rows:
        if user_id != person or at - last > SESSION_GAP:
            start = play_id
        person, last = user_id, at
        updates.append({"play": play_id, "start": start})
    statement = sa.update(plays).where(plays.c.id == sa.bindparam("play")).values(session_start=sa.bindparam("start"))
    for first in range(0, len(updates), BATCH):
        bind.execute(statement, updates[first : first + BATCH])


def downgrade():
    with op.batch_alter_table("play_events", schema=None) as batch_op:
        batch_op.drop_index("ix_play_events_user_session")
        batch_op.drop_column("session_start")
