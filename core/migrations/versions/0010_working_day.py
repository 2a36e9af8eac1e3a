"""conversation.answered_at (the first assignment, for the supervisor's day figures) and
conversation.visitor_wrote (set at the close: a chat the visitor never wrote in is abandoned, not a
pending registration). Older conversations keep NULL for both: still pending, wait from assigned_at.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("visitor_wrote", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_column("visitor_wrote")
        batch_op.drop_column("answered_at")
