"""case register: import columns, audit links and indexes, guideline versions

Revision ID: 0003
Revises: 0002

Registrations get ``source`` (chat, import, demo), the importing service's ``external_ref`` (unique per
service, so a file imported twice is refused) and the ``import_batch``; ``closed_at`` is indexed because
the statistics select by it. The audit log gets ``registration_id`` and indexes for its filters. The
guideline an administrator replaces is kept as numbered versions in ``guideline_version``.
Runs on SQLite (batch mode, which rebuilds the table) and PostgreSQL.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="chat")
        )
        batch_op.add_column(sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("import_batch", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.create_unique_constraint("uq_registration_external_ref", ["service", "external_ref"])
        batch_op.create_index(batch_op.f("ix_registration_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_registration_import_batch"), ["import_batch"], unique=False)

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registration_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_audit_log_registration_id"), ["registration_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_actor_id"), ["actor_id"], unique=False)

    op.create_table(
        "guideline_version",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("version"),
    )


def downgrade() -> None:
    op.drop_table("guideline_version")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_actor_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_registration_id"))
        batch_op.drop_column("registration_id")
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_import_batch"))
        batch_op.drop_index(batch_op.f("ix_registration_closed_at"))
        batch_op.drop_constraint("uq_registration_external_ref", type_="unique")
        batch_op.drop_column("import_batch")
        batch_op.drop_column("external_ref")
        batch_op.drop_column("source")
