"""The full-text objects that only one database has, and how autogenerate is told about them.

SQLite keeps the search index in an FTS5 virtual table `candidate_fts` (plus the shadow
tables FTS5 creates, `candidate_fts_*`) with triggers on `candidate_search`; PostgreSQL
keeps a stored column `candidate_search.document_tsv` (to_tsvector('simple', document))
with a GIN index. SQLAlchemy metadata cannot
describe either, so migration 0004 creates them by hand and this comparator (Alembic's
extension point for third-party comparators) removes exactly these names from an
autogenerate diff: the schema test still compares everything else with the models.
"""
from __future__ import annotations

from alembic.autogenerate.compare import comparators
from alembic.operations import ops
from alembic.util import DispatchPriority, PriorityDispatchResult

FTS_TABLE = "candidate_fts"
PG_INDEX = "ix_candidate_search_fts"
PG_COLUMN = ("candidate_search", "document_tsv")


def is_search_table(name: str | None) -> bool:
    return bool(name) and (name == FTS_TABLE or name.startswith(FTS_TABLE + "_"))


def _keep(op) -> bool:
    if isinstance(op, ops.DropTableOp):
        return not is_search_table(op.table_name)
    if isinstance(op, ops.DropIndexOp):
        return op.index_name != PG_INDEX
    if isinstance(op, ops.DropColumnOp):
        return (op.table_name, op.column_name) != PG_COLUMN
    return True


@comparators.dispatch_for("autogenerate", priority=DispatchPriority.LAST)
def _ignore_search_objects(autogen_context, upgrade_ops) -> PriorityDispatchResult:
    kept = []
    for op in upgrade_ops.ops:
        if isinstance(op, ops.ModifyTableOps):
            op.ops = [inner for inner in op.ops if _keep(inner)]
            if not op.ops:
                continue
        elif not _keep(op):
            continue
        kept.append(op)
    upgrade_ops.ops[:] = kept
    return PriorityDispatchResult.CONTINUE
