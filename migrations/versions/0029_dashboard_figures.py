"""the admin dashboard's figures, counted by a job and read by the page

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-02 01:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "dashboard_figures",
        sa.Column("scale", sa.String(length=8), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refresh_queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("scale", name=op.f("pk_dashboard_figures")),
    )


def downgrade():
    op.drop_table("dashboard_figures")
