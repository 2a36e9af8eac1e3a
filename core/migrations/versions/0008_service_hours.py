"""service_hours: the opening hours and closed dates an administrator edits on /admin (no row: the
settings NORA_OPENING_HOURS and NORA_CLOSED_DATES are in force, as before)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_hours",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("weekly", sa.Text(), nullable=True),
        sa.Column("closed_dates", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("service_hours")
