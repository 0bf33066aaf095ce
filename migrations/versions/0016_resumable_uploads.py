"""resumable uploads (tus): files being received in pieces

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 22:45:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "resumable_uploads",
        sa.Column("id", sa.String(length=43), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=1000), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_resumable_uploads_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resumable_uploads")),
    )
    with op.batch_alter_table("resumable_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resumable_uploads_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index("ix_resumable_uploads_owner_id", ["owner_id"], unique=False)


def downgrade():
    with op.batch_alter_table("resumable_uploads", schema=None) as batch_op:
        batch_op.drop_index("ix_resumable_uploads_owner_id")
        batch_op.drop_index(batch_op.f("ix_resumable_uploads_expires_at"))
    op.drop_table("resumable_uploads")
