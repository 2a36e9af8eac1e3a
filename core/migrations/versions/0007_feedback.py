"""visitor_feedback (the after-chat question, counted per day and answer only);
conversation.ui_language (the visitor's page language, which system notices are written in)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visitor_feedback",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "answer"),
    )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ui_language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("ui_language")
    op.drop_table("visitor_feedback")
