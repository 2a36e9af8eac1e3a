"""inquiries from every channel, and cases that group them

Revision ID: 0006
Revises: 0005

A ``case`` table; on ``registration`` the ``channel`` (chat, phone, meeting, email, sms, video, other),
the ``contact_date`` (a Europe/Oslo date) and ``case_id``. Every existing registration becomes an
inquiry: chats and demo rows ``chat`` with the Europe/Oslo date of their close, imported rows ``other``
(their file named no channel) with their own date; each that ``is_case`` gets a case of its own (its
service, opened when it was registered, its import ``ref`` kept), so that counting cases counts exactly
what was counted before. The statistics count chats by their close date as before and the others by
``contact_date``, which for imported rows (closed at 12:00 UTC) is the same date: no past figure
changes. The reference kind ``channels`` is seeded from ``core/reference.json``.
Runs on SQLite (batch mode, which rebuilds the table) and PostgreSQL.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OSLO = ZoneInfo("Europe/Oslo")
CHUNK = 1000


def _seed_channels() -> None:
    data = json.loads((Path(__file__).resolve().parents[2] / "reference.json").read_text("utf-8"))
    table = sa.table(
        "reference_item",
        sa.column("kind", sa.String),
        sa.column("code", sa.String),
        sa.column("position", sa.Integer),
        sa.column("data", sa.Text),
        sa.column("retired", sa.Boolean),
    )
    rows = [
        {
            "kind": "channels",
            "code": e["code"],
            "position": i,
            "data": json.dumps(e, ensure_ascii=False),
            "retired": False,
        }
        for i, e in enumerate(data["channels"])
    ]
    op.bulk_insert(table, rows)


def _as_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite without type information hands back text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _fill_existing() -> None:
    """Channel, contact date and a case of its own for every registration already stored."""
    bind = op.get_bind()
    registration = sa.table(
        "registration",
        sa.column("id", sa.String),
        sa.column("is_case", sa.Boolean),
        sa.column("service", sa.String),
        sa.column("closed_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("author_id", sa.String),
        sa.column("source", sa.String),
        sa.column("external_ref", sa.String),
        sa.column("channel", sa.String),
        sa.column("contact_date", sa.Date),
        sa.column("case_id", sa.String),
    )
    case = sa.table(
        "case",
        sa.column("id", sa.String),
        sa.column("service", sa.String),
        sa.column("ref", sa.String),
        sa.column("opened_at", sa.DateTime(timezone=True)),
        sa.column("created_by", sa.String),
    )
    bind.execute(registration.update().where(registration.c.source == "import").values(channel="other"))
    rows = bind.execute(
        sa.select(
            registration.c.id,
            registration.c.is_case,
            registration.c.service,
            registration.c.closed_at,
            registration.c.created_at,
            registration.c.author_id,
            registration.c.external_ref,
        ).order_by(registration.c.id)
    ).all()
    updates, cases = [], []
    for row in rows:
        case_id = None
        if row.is_case:
            case_id = uuid4().hex
            cases.append(
                {
                    "id": case_id,
                    "service": row.service,
                    "ref": row.external_ref,
                    "opened_at": _as_utc(row.created_at),
                    "created_by": row.author_id,
                }
            )
        contact = _as_utc(row.closed_at).astimezone(OSLO).date()
        updates.append({"rid": row.id, "day": contact, "cid": case_id})
    for start in range(0, len(cases), CHUNK):
        bind.execute(case.insert(), cases[start : start + CHUNK])
    statement = (
        registration.update()
        .where(registration.c.id == sa.bindparam("rid"))
        .values(contact_date=sa.bindparam("day"), case_id=sa.bindparam("cid"))
    )
    for start in range(0, len(updates), CHUNK):
        bind.execute(statement, updates[start : start + CHUNK])


def upgrade() -> None:
    op.create_table(
        "case",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("closed_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["staff_user.id"]),
        sa.ForeignKeyConstraint(["closed_by"], ["staff_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_case_service"), "case", ["service"], unique=False)
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="chat")
        )
        batch_op.add_column(sa.Column("contact_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.create_foreign_key("fk_registration_case_id_case", "case", ["case_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_registration_case_id"), ["case_id"], unique=False)
    _fill_existing()
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.alter_column("contact_date", existing_type=sa.Date(), nullable=False)
    _seed_channels()


def downgrade() -> None:
    op.execute("DELETE FROM reference_item WHERE kind = 'channels'")
    with op.batch_alter_table("registration", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registration_case_id"))
        batch_op.drop_constraint("fk_registration_case_id_case", type_="foreignkey")
        batch_op.drop_column("case_id")
        batch_op.drop_column("contact_date")
        batch_op.drop_column("channel")
    op.drop_index(op.f("ix_case_service"), table_name="case")
    op.drop_table("case")
