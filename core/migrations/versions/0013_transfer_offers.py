"""conversation.offered_to and conversation.offer_note: a warm transfer's open offer, stored with the
conversation so that every instance, also one started after the offer, knows it

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("offered_to", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch.add_column(sa.Column("offer_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch.create_index(op.f("ix_conversation_offered_to"), ["offered_to"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.drop_index(op.f("ix_conversation_offered_to"))
        batch.drop_column("offer_note")
        batch.drop_column("offered_to")
