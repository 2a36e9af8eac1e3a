"""chat_instance (each running instance's heartbeat) and conversation.visitor_instance (the instance
holding the visitor's socket): visitors of an instance that died are marked away by another

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_instance",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("visitor_instance", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch.create_index(op.f("ix_conversation_visitor_instance"), ["visitor_instance"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.drop_index(op.f("ix_conversation_visitor_instance"))
        batch.drop_column("visitor_instance")
    op.drop_table("chat_instance")
