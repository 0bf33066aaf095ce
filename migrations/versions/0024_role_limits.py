"""upload limits per role (largest file, longest track, uploads per month, storage) and
each account's count of this month's uploads

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-01 06:30:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "role_limits",
        sa.Column(
            "role", sa.Enum("admin", "user", "listener", name="role", native_enum=False, length=16), nullable=False
        ),
        sa.Column("max_file_bytes", sa.BigInteger(), nullable=True),
        sa.Column("max_duration_seconds", sa.Integer(), nullable=True),
        sa.Column("monthly_uploads", sa.Integer(), nullable=True),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_role_limits")),
    )
    # Plain ALTER TABLE on both databases: a batch would copy the users table on SQLite,
    # and dropping the old copy would delete every account's tracks (ON DELETE CASCADE).
    op.add_column("users", sa.Column("month_uploads", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("users", sa.Column("month_started", sa.Date(), nullable=True))


def downgrade():
    # SQLite 3.35 and later drop a column in place (see upgrade() for why not a batch).
    op.execute("ALTER TABLE users DROP COLUMN month_started")
    op.execute("ALTER TABLE users DROP COLUMN month_uploads")
    op.drop_table("role_limits")
