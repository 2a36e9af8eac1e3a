"""seed reference data from core/reference.json

Revision ID: 0002
Revises: 0001
"""

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KINDS = ("regions", "languages", "audiences", "services", "categories", "contacts", "age_groups",
         "genders", "actions", "help_lines", "violence_forms")


def upgrade() -> None:
    data = json.loads((Path(__file__).resolve().parents[2] / "reference.json").read_text("utf-8"))
    table = sa.table(
        "reference_item",
        sa.column("kind", sa.String), sa.column("code", sa.String), sa.column("position", sa.Integer),
        sa.column("data", sa.Text), sa.column("retired", sa.Boolean),
    )
    rows = []
    for kind in KINDS:
        for position, entry in enumerate(data.get(kind, [])):
            if isinstance(entry, str):
                entry = {"code": entry}
            rows.append({"kind": kind, "code": entry["code"], "position": position,
                         "data": json.dumps(entry, ensure_ascii=False), "retired": False})
    op.bulk_insert(table, rows)


def downgrade() -> None:
    op.execute("DELETE FROM reference_item")
