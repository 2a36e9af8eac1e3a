"""return_thread, thread_conversation, left_message: anonymous return codes and messages left while the
chat is closed (docs/design.md §9)

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_thread",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("lookup", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("code_issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=True),
        sa.Column("audience", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ui_language", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_return_thread_lookup"), "return_thread", ["lookup"], unique=False)
    op.create_table(
        "thread_conversation",
        sa.Column("conversation_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("thread_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.ForeignKeyConstraint(["thread_id"], ["return_thread.id"]),
        sa.PrimaryKeyConstraint("conversation_id"),
    )
    op.create_index(op.f("ix_thread_conversation_thread_id"), "thread_conversation", ["thread_id"], unique=False)
    op.create_table(
        "left_message",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("thread_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["thread_id"], ["return_thread.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_left_message_left_at"), "left_message", ["left_at"], unique=False)
    op.create_index(op.f("ix_left_message_thread_id"), "left_message", ["thread_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_left_message_thread_id"), table_name="left_message")
    op.drop_index(op.f("ix_left_message_left_at"), table_name="left_message")
    op.drop_table("left_message")
    op.drop_index(op.f("ix_thread_conversation_thread_id"), table_name="thread_conversation")
    op.drop_table("thread_conversation")
    op.drop_index(op.f("ix_return_thread_lookup"), table_name="return_thread")
    op.drop_table("return_thread")
