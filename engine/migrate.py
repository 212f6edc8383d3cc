"""Schema migrations (Alembic) run from code: `recall db upgrade`."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData

from .db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def target_metadata() -> MetaData:
    """The schema the migrations keep: the engine's tables and the talent archive's, and the comparator
    that keeps autogenerate from proposing to drop the per-database full-text objects.

    Assembled here, not by `engine.models` importing the archive's tables: the models are imported by
    every process and query, Alembic and the archive only by whoever migrates or compares the schema."""
    from . import archive_models  # noqa: F401 - its tables join Base.metadata
    from .archive import schema_objects  # noqa: F401 - registers the comparator with Alembic
    from .channels import models as _channel_models  # noqa: F401 - channel_settings, outbox
    from .channels import wecom_models  # noqa: F401 - the WeCom token, contacts and states
    from .channels import email_models  # noqa: F401 - the mailbox poll's state, received mail, failing addresses
    from . import notification_models  # noqa: F401 - notification preferences, notifications, their cursor
    from . import role_models  # noqa: F401 - role profiles, their versions, aliases, open positions
    from .candidate_pages import models as _link_models  # noqa: F401 - signed candidate links (issue 18)
    from . import ranking_models  # noqa: F401 - candidate scores, scorecards, trained models (issue 20)
    from .archive import import_models  # noqa: F401 - ATS import runs, rows, saved mappings (issue 20)
    from .studio import models as _studio_models  # noqa: F401 - drafts, migration runs (issue 19)
    from .models import Base
    return Base.metadata


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` inside one transaction (PostgreSQL DDL is transactional)."""
    cfg = alembic_config(str(db.engine.url))
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
