"""conversation: the index on state becomes one on (state, visitor_away_since), so that the scheduler's
search for visitors gone past their grace period reads only those, not every open conversation

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_conversation_state_away", "conversation", ["state", "visitor_away_since"], unique=False)
    op.drop_index("ix_conversation_state", table_name="conversation")


def downgrade() -> None:
    op.create_index("ix_conversation_state", "conversation", ["state"], unique=False)
    op.drop_index("ix_conversation_state_away", table_name="conversation")
