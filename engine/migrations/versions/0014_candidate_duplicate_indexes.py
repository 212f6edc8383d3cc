"""The rest of the duplicate-person check (engine/archive/records.py) on indexes, as the phone is
since 0011: `candidates.email_key` (the email trimmed and lower-cased, kept by the ORM on every write
of email; filled here for existing rows) indexed for the same email in any case, and (name,
role_applied) for the same name and role. Without them each check read every candidate with an
email (lower() of a column), or every candidate of the role (a bulk sync of one role's applicants
read the whole archive once per item). A plain column rather than an index on lower(email): SQLite
cannot reflect expression indexes, so the schema check could not see it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 08:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("candidates", sa.Column("email_key", sa.String(320), nullable=True))
    candidates = sa.table("candidates", sa.column("id", sa.String), sa.column("email", sa.String),
                          sa.column("email_key", sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(candidates.c.id, candidates.c.email)
                        .where(candidates.c.email.is_not(None))).all()
    filled = [{"key": cid, "lowered": email.strip().lower()} for cid, email in rows if email.strip()]
    if filled:
        bind.execute(candidates.update().where(candidates.c.id == sa.bindparam("key"))
                     .values(email_key=sa.bindparam("lowered")), filled)
    op.create_index("ix_candidate_email_key", "candidates", ["email_key"])
    op.create_index("ix_candidate_name_role", "candidates", ["name", "role_applied"])


def downgrade() -> None:
    op.drop_index("ix_candidate_name_role", table_name="candidates")
    op.drop_index("ix_candidate_email_key", table_name="candidates")
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("email_key")
