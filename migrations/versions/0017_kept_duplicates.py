"""likely duplicates a user chose to keep

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 23:00:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kept_duplicates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("track_ids", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_kept_duplicates_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kept_duplicates")),
    )
    with op.batch_alter_table("kept_duplicates", schema=None) as batch_op:
        batch_op.create_index("ix_kept_duplicates_owner_id", ["owner_id"], unique=False)


def downgrade():
    with op.batch_alter_table("kept_duplicates", schema=None) as batch_op:
        batch_op.drop_index("ix_kept_duplicates_owner_id")
    op.drop_table("kept_duplicates")
