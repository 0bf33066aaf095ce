"""loudness, ReplayGain, waveform and the analysis state of tracks

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 22:40:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FLOATS = (
    "loudness",
    "true_peak",
    "album_loudness",
    "rg_track_gain",
    "rg_track_peak",
    "rg_album_gain",
    "rg_album_peak",
)


def upgrade():
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "analysis_state",
                sa.Enum("pending", "done", "failed", name="analysisstate", native_enum=False, length=16),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("analysis_error", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("analysis_detail", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("analysed_at", sa.DateTime(timezone=True), nullable=True))
        for name in FLOATS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("waveform_path", sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_column("waveform_path")
        for name in reversed(FLOATS):
            batch_op.drop_column(name)
        batch_op.drop_column("analysed_at")
        batch_op.drop_column("analysis_detail")
        batch_op.drop_column("analysis_error")
        batch_op.drop_column("analysis_state")
