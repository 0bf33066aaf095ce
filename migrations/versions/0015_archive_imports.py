"""ZIP archive imports: the preview and the import job's progress

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 22:40:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "archive_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "preview",
                "queued",
                "running",
                "done",
                "failed",
                "cancelled",
                name="importstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("original_filename", sa.String(length=300), nullable=False),
        sa.Column("archive_path", sa.String(length=255), nullable=True),
        sa.Column("archive_size", sa.BigInteger(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("extracted_bytes", sa.BigInteger(), nullable=False),
        sa.Column("current", sa.String(length=1000), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_archive_imports_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_imports")),
    )
    with op.batch_alter_table("archive_imports", schema=None) as batch_op:
        batch_op.create_index("ix_archive_imports_owner_id_id", ["owner_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_imports_state"), ["state"], unique=False)


def downgrade():
    with op.batch_alter_table("archive_imports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_imports_state"))
        batch_op.drop_index("ix_archive_imports_owner_id_id")
    op.drop_table("archive_imports")
