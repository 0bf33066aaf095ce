"""sound quality: the web player's default and the one on a metered connection

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 23:05:00

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quality_web", sa.String(length=8), server_default="original", nullable=False))
        batch_op.add_column(sa.Column("quality_metered", sa.String(length=8), server_default="low", nullable=False))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("quality_metered")
        batch_op.drop_column("quality_web")
