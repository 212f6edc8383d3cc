"""`recall roles import FILE [--dry-run] [--only-valid]` (cli/roles.py): a dry run writes nothing, a file with
a bad row prints it by row and column, exits 1 and writes nothing, the good file imports and again writes
nothing (SQLite and PostgreSQL)."""
from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import func, select

from cli import main
from engine.db import Database
from engine.role_models import RoleProfileVersion
from tests.archive.test_roles_import import CSV


def _versions(url: str) -> int:
    db = Database(url)
    try:
        with db.read_transaction() as s:
            return s.scalar(select(func.count()).select_from(RoleProfileVersion))
    finally:
        db.dispose()


def test_recall_roles_import(database_url, tmp_path):
    env = {"RECALL_DATABASE_URL": database_url}
    good = tmp_path / "roles.csv"
    good.write_bytes(CSV)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(CSV.decode().replace("18000,30000", "18000,三万").encode("gbk"))
    run = CliRunner().invoke
    checked = run(main, ["roles", "import", str(good), "--dry-run"], env=env)
    assert checked.exit_code == 0, checked.output
    assert "checked (dry run, nothing written): 3 new, 0 changed, 0 unchanged, 0 with problems" in checked.output
    assert _versions(database_url) == 0
    refused = run(main, ["roles", "import", str(bad)], env=env)
    assert refused.exit_code == 1 and "row 2, 薪资上限: '三万' is not a number" in refused.output
    assert "nothing written" in refused.output and _versions(database_url) == 0
    done = run(main, ["roles", "import", str(good), "--actor", "hris"], env=env)
    assert done.exit_code == 0 and "imported: 3 new" in done.output and "row 2: 后端工程师 new v1" in done.output
    again = run(main, ["roles", "import", str(good)], env=env)
    assert again.exit_code == 0 and "nothing written: 0 new, 0 changed, 3 unchanged" in again.output
    assert _versions(database_url) == 3
    unreadable = tmp_path / "x.xlsx"
    unreadable.write_bytes(b"PK\x03\x04nonsense")
    failed = run(main, ["roles", "import", str(unreadable)], env=env)
    assert failed.exit_code == 1 and "cannot be imported" in failed.output
