"""Several named, scoped, expiring API tokens per user (api_tokens, engine/tokens.py). Each user's
one token moves in as the token named "default" (scope write, no expiry: it keeps working); the
users.token_hash column is left holding a random placeholder that matches no token (SQLite cannot
drop a UNIQUE column without copying the users table, whose rows other tables reference).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 06:10:00
"""
import secrets
import uuid

from alembic import op
import sqlalchemy as sa

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    tokens = op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.UniqueConstraint("user_id", "name", name="uq_api_tokens_user_id_name"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    bind = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer()), sa.column("token_hash", sa.String(64)),
                     sa.column("token_issued_at", UTCDateTime()))
    rows = bind.execute(sa.select(users.c.id, users.c.token_hash, users.c.token_issued_at)).all()
    if rows:
        op.bulk_insert(tokens, [{"id": str(uuid.uuid4()), "user_id": r.id, "name": "default", "token_hash": r.token_hash,
                                 "scope": "write", "created_at": r.token_issued_at, "created_by": None,
                                 "expires_at": None} for r in rows])
        for r in rows:
            bind.execute(users.update().where(users.c.id == r.id).values(token_hash=secrets.token_hex(32)))


def downgrade() -> None:
    bind = op.get_bind()
    tokens = sa.table("api_tokens", sa.column("user_id", sa.Integer()), sa.column("name", sa.String(64)),
                      sa.column("token_hash", sa.String(64)))
    users = sa.table("users", sa.column("id", sa.Integer()), sa.column("token_hash", sa.String(64)))
    for user_id, token_hash in bind.execute(sa.select(tokens.c.user_id, tokens.c.token_hash)
                                            .where(tokens.c.name == "default")).all():
        bind.execute(users.update().where(users.c.id == user_id).values(token_hash=token_hash))
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
