"""each listener's "For you" mixes, computed by a job and read by the pages

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-01 06:30:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "stored_mixes",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("mixes", sa.JSON(), nullable=False),
        sa.Column("basis", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refresh_queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_stored_mixes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_stored_mixes")),
    )


def downgrade():
    op.drop_table("stored_mixes")
