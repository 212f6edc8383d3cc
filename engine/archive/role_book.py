"""`RoleProfiles`: the front door of the role profiles for the API and the command line. Every public method
is one unit of work (engine/archive/roles.py holds the session-level functions it composes).

Reads answer `RoleScopeView`s: a scope's profile in force at a date, which of its fact groups are stale
(older than RECALL_ROLE_FACT_MAX_AGE_DAYS), a version written for a later date (`pending`), the role's
aliases and open positions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.exc import DBAPIError, IntegrityError

from ..errors import ConcurrentChange, NotFound
from . import roles
from .roles import RoleProfile


@dataclass(frozen=True)
class RoleScopeView:
    """One scope (role, team, location) as the workspace shows it."""

    role_key: str
    team: str | None
    location: str | None
    title: dict
    version: int | None               # the version in force at `at` (None: none yet)
    effective_from: date | None
    changed_by: str | None
    changed_at: datetime | None
    facts: dict
    as_of: dict                       # group -> "YYYY-MM-DD"
    stale_groups: list[str]
    latest_version: int               # the ETag: any save moves it
    pending: dict | None              # the newest version when it is not in force yet: version, effective_from
    open_positions: int
    aliases: list[str]
    scopes: list[dict] = field(default_factory=list)   # the role's other scopes: team, location


@dataclass(frozen=True)
class RoleVersionView:
    version: int
    effective_from: date
    changed_by: str
    changed_at: datetime
    note: str
    title: dict
    facts: dict
    in_force: bool


def _guarded(unit):
    """A racing writer of the same scope (a broken unique key, a PostgreSQL serialization failure) is a
    ConcurrentChange: `again_on_conflict` runs the unit again and it finds the other's row."""
    try:
        return unit()
    except IntegrityError as exc:
        raise ConcurrentChange(f"another request saved the same role profile first: {exc.orig}") from exc
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in ("40001", "40P01"):
            raise ConcurrentChange(f"a concurrent transaction: {exc.orig}") from exc
        raise


class RoleProfiles:
    """Role profiles: list, read, save a version, aliases, open positions, import."""

    def __init__(self, engine, *, max_age_days: int | None = None):
        self.engine = engine
        self.db = engine.db
        self.clock = engine.clock
        self.max_age_days = max_age_days or getattr(engine.settings, "role_fact_max_age_days", 365)

    def today(self) -> date:
        return self.clock.now().date()

    def _write(self, unit, *, pinned: bool = False):
        from ..runtime import again_on_conflict
        return again_on_conflict(lambda: _guarded(unit), pinned=pinned)

    # ---------------------------------------------------------------- reading
    def list(self, *, at: date | None = None, role_key: str | None = None) -> list[RoleScopeView]:
        at = at or self.today()
        with self.db.read_transaction() as s:
            return [self._view(s, row, at, with_scopes=False) for row in roles.scopes(s, role_key)]

    def get(self, role_key: str, *, team: str | None = None, location: str | None = None,
            at: date | None = None) -> RoleScopeView:
        with self.db.read_transaction() as s:
            row = roles._scope_row(s, role_key, team, location)
            return self._view(s, row, at or self.today(), with_scopes=True)

    def versions(self, role_key: str, *, team: str | None = None, location: str | None = None,
                 at: date | None = None) -> list[RoleVersionView]:
        at = at or self.today()
        with self.db.read_transaction() as s:
            row = roles._scope_row(s, role_key, team, location)
            current = roles.in_force(s, row, at)
            return [RoleVersionView(p.version, p.effective_from, p.changed_by, p.changed_at, note, p.title, p.facts,
                                    current is not None and p.version == current.version)
                    for p, note in roles.versions(s, role_key, team=team, location=location)]

    def profile_for(self, role_key: str, *, team=None, location=None, at: date | None = None) -> RoleProfile | None:
        with self.db.read_transaction() as s:
            return roles.profile_for(s, role_key, team=team, location=location, at=at or self.today())

    def open_roles(self) -> list[tuple[str, int]]:
        with self.db.read_transaction() as s:
            return roles.open_roles(s)

    def _view(self, s, row, at: date, *, with_scopes: bool) -> RoleScopeView:
        current = roles.in_force(s, row, at)
        newest = roles.latest(s, row)
        shown = current or newest
        profile = roles._profile(row, shown)
        pending = None if current is not None and current.version == newest.version else {
            "version": newest.version, "effective_from": newest.effective_from}
        scopes = [{"team": r.team, "location": r.location} for r in roles.scopes(s, row.role_key)
                  if r.id != row.id] if with_scopes else []
        return RoleScopeView(
            role_key=row.role_key, team=row.team, location=row.location, title=profile.title,
            version=current.version if current else None,
            effective_from=current.effective_from if current else None,
            changed_by=shown.changed_by, changed_at=shown.changed_at, facts=profile.facts,
            as_of={g: v.get("as_of") for g, v in profile.facts.items() if isinstance(v, dict)},
            stale_groups=profile.stale_groups(today=at, max_age_days=self.max_age_days),
            latest_version=row.latest_version, pending=pending,
            open_positions=roles.open_positions_of(s, row.role_key), aliases=roles.aliases_of(s, row.role_key),
            scopes=scopes)

    # ---------------------------------------------------------------- writing
    def save(self, role_key: str, title, facts, *, effective_from: date, actor: str, note: str = "",
             team: str | None = None, location: str | None = None, aliases: list | None = None,
             open_positions: int | None = None, expected_version: int | None = None) -> RoleScopeView:
        """A new version of the scope (nothing when the content is the latest's), with the role's aliases and
        open positions when given: all in one unit of work."""
        def once():
            with self.db.write_transaction() as s:
                now = self.clock.now()
                roles.save_version(s, role_key, title, facts, effective_from=effective_from, actor=actor, note=note,
                                   team=team, location=location, now=now, ops=self.engine.ops,
                                   expected_version=expected_version)
                if aliases is not None:
                    roles.set_aliases(s, role_key, aliases, actor=actor, now=now, ops=self.engine.ops)
                if open_positions is not None:
                    roles.set_open_positions(s, role_key, open_positions, actor=actor, now=now, ops=self.engine.ops)
                row = roles._scope_row(s, role_key, team, location)
                return self._view(s, row, self.today(), with_scopes=True)
        return self._write(once, pinned=expected_version is not None)

    def change_role(self, role_key: str, *, actor: str, open_positions: int | None = None,
                    aliases: list | None = None) -> RoleScopeView:
        """The role's current, not versioned, values: open positions and aliases."""
        def once():
            with self.db.write_transaction() as s:
                found = roles.scopes(s, role_key)
                if not found:
                    raise NotFound(f"no role profile {role_key!r}")
                now = self.clock.now()
                if aliases is not None:
                    roles.set_aliases(s, role_key, aliases, actor=actor, now=now, ops=self.engine.ops)
                if open_positions is not None:
                    roles.set_open_positions(s, role_key, open_positions, actor=actor, now=now, ops=self.engine.ops)
                base = next((r for r in found if r.team is None and r.location is None), found[0])
                return self._view(s, base, self.today(), with_scopes=True)
        return self._write(once)

    def import_file(self, data: bytes, *, filename: str = "", actor: str, dry_run: bool,
                    only_valid: bool = False):
        """Import role profiles from a CSV or XLSX file (engine/archive/roles_import.py): a dry run reads only;
        otherwise all rows or none (or the good ones with `only_valid`) in one unit of work."""
        from .roles_import import run_import

        def once(transaction):
            with transaction() as s:
                return run_import(s, data, filename=filename, actor=actor, now=self.clock.now(), today=self.today(),
                                  dry_run=dry_run, only_valid=only_valid, ops=self.engine.ops)
        if dry_run:
            return once(self.db.read_transaction)
        return self._write(lambda: once(self.db.write_transaction))

    def set_open_positions(self, role_key: str, count: int, *, actor: str) -> int:
        return self.change_role(role_key, actor=actor, open_positions=count).open_positions

    def set_aliases(self, role_key: str, aliases: list, *, actor: str) -> list[str]:
        return self.change_role(role_key, actor=actor, aliases=aliases).aliases
