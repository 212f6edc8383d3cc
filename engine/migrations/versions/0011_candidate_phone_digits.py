"""candidates.phone_digits: the phone's digits (no +86/0086), indexed, so that the duplicate-person
check by phone (engine/archive/records.py) is an indexed lookup instead of reading every candidate.
Existing rows are filled here with the same normalisation (engine.archive_models.phone_digits, copied
so that this migration does not change when the code does); the ORM keeps it on every write.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 06:40:00
"""
import re

from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _digits(value):
    digits = re.sub(r"\D", "", value or "")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 11:
            return digits[len(prefix):]
    return digits or None


def upgrade() -> None:
    op.add_column("candidates", sa.Column("phone_digits", sa.String(64), nullable=True))
    candidates = sa.table("candidates", sa.column("id", sa.String), sa.column("phone", sa.String),
                          sa.column("phone_digits", sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(candidates.c.id, candidates.c.phone)
                        .where(candidates.c.phone.is_not(None))).all()
    filled = [{"key": cid, "digits": _digits(phone)} for cid, phone in rows if _digits(phone)]
    if filled:
        bind.execute(candidates.update().where(candidates.c.id == sa.bindparam("key"))
                     .values(phone_digits=sa.bindparam("digits")), filled)
    op.create_index("ix_candidate_phone_digits", "candidates", ["phone_digits"])


def downgrade() -> None:
    op.drop_index("ix_candidate_phone_digits", table_name="candidates")
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("phone_digits")
