"""Role profiles: the facts HR stands behind, per role (and optionally team and location), versioned with
effective dates (tables: engine/role_models.py; the document: engine/archive/role_document.py;
docs/role-profiles.md).

Session-level functions (the caller's unit of work, like the rest of the archive's modules):

    profile_for(session, "backend_engineer", team="platform", at=date(2026, 12, 1))  # RoleProfile | None
    profile_for_role_text(session, "后端工程师")      # through the aliases HR typed, then the slug
    save_version(session, "backend_engineer", {"zh": "后端工程师"}, facts, effective_from=..., actor=..., note=...)
    open_roles(session), aliases_of(session, key), role_key_of("Backend Engineer") == "backend_engineer"

`RoleProfiles(engine)` (engine/archive/role_book.py) is the front door the API and the command line use:
each public method one unit of work. The profile in force at a date is the version with the latest `effective_from` on or before it (the
higher version on a tie): a correction written today for last month wins from last month on; a change
announced for next quarter waits for its date.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ..errors import FieldError, NotFound, StaleVersion
from ..models import AuditEvent
from ..role_models import OpenPositions, RoleAlias, RoleProfileRow, RoleProfileVersion
from .role_document import RoleFactsInvalid, validate_facts, validate_title

MAX_KEY = 64
MAX_SCOPE = 128
MAX_NOTE = 2000
MAX_ALIASES = 50
ROLE_KEY = re.compile(r"^[^\W_]\w{0,63}$")


# ---------------------------------------------------------------- the profile
@dataclass(frozen=True)
class RoleProfile:
    role_key: str
    team: str | None
    location: str | None
    version: int
    effective_from: date
    changed_by: str
    changed_at: datetime
    title: dict            # {"zh": "...", "en": "..."}
    facts: dict            # the document of engine/archive/role_document.py, validated on write

    def as_of(self, group: str) -> date | None:
        """The date a fact group's figures are from (None: the profile has no such group)."""
        value = (self.facts.get(group) or {}).get("as_of")
        try:
            return date.fromisoformat(value) if value else None
        except (TypeError, ValueError):
            return None

    def stale(self, group: str, *, today: date, max_age_days: int) -> bool:
        """The group's figures are older than `max_age_days` (a group the profile lacks is not stale: it is missing)."""
        as_of = self.as_of(group)
        return as_of is not None and (today - as_of).days > max_age_days

    def stale_groups(self, *, today: date, max_age_days: int) -> list[str]:
        return [group for group in self.facts if self.stale(group, today=today, max_age_days=max_age_days)]

    @property
    def label(self) -> str:
        """How a suggestion cites it: "backend_engineer@v3" (team and location after a slash)."""
        scope = "/".join(part for part in (self.team, self.location) if part)
        return f"{self.role_key}{'/' + scope if scope else ''}@v{self.version}"


def role_key_of(text: str | None) -> str:
    """The slug of a role's name: "Backend Engineer" -> "backend_engineer", "后端 工程师" -> "后端_工程师"
    (NFKC, case-folded, every run of other characters one `_`, at most 64). "" for no text."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    slug = re.sub(r"[\W_]+", "_", folded).strip("_")
    return slug[:MAX_KEY].rstrip("_")


def scope_key(role_key: str, team: str | None, location: str | None) -> str:
    return f"{role_key}|{team or ''}|{location or ''}"


def _profile(row: RoleProfileRow, version: RoleProfileVersion) -> RoleProfile:
    return RoleProfile(role_key=row.role_key, team=row.team, location=row.location, version=version.version,
                       effective_from=version.effective_from, changed_by=version.changed_by,
                       changed_at=version.changed_at, title=dict(version.title or {}), facts=dict(version.facts or {}))


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _scopes(team: str | None, location: str | None) -> list[tuple[str | None, str | None]]:
    """Most specific first: role+team+location, role+team, role+location, role alone."""
    order = [(team, location), (team, None), (None, location), (None, None)]
    return list(dict.fromkeys(order))


# ---------------------------------------------------------------- reading
def in_force(session: Session, row: RoleProfileRow, at: date) -> RoleProfileVersion | None:
    return session.scalars(select(RoleProfileVersion).where(
        RoleProfileVersion.profile_id == row.id, RoleProfileVersion.effective_from <= at)
        .order_by(RoleProfileVersion.effective_from.desc(), RoleProfileVersion.version.desc()).limit(1)).first()


def profile_for(session: Session, role_key: str, *, team: str | None = None, location: str | None = None,
                at: date | None = None) -> RoleProfile | None:
    """The profile in force at `at` (default today): the most specific match (role+team+location, then
    role+team, role+location, role alone). None when there is none."""
    at = at or _today()
    team, location = _clean_scope(team), _clean_scope(location)
    rows = {(r.team, r.location): r for r in session.scalars(
        select(RoleProfileRow).where(RoleProfileRow.role_key == role_key))}
    for scope in _scopes(team, location):
        row = rows.get(scope)
        version = in_force(session, row, at) if row is not None else None
        if version is not None:
            return _profile(row, version)
    return None


def resolve_role_key(session: Session, role_text: str | None) -> str | None:
    """The role key a free text means: an alias HR recorded, else the text's own slug when a profile has
    it as its key. None when neither."""
    key = role_key_of(role_text)
    if not key:
        return None
    alias = session.get(RoleAlias, key)
    if alias is not None:
        return alias.role_key
    found = session.scalars(select(RoleProfileRow.role_key).where(RoleProfileRow.role_key == key).limit(1)).first()
    return found


def profile_for_role_text(session: Session, role_text: str | None, *, team: str | None = None,
                          location: str | None = None, at: date | None = None) -> RoleProfile | None:
    """`profile_for` of the role a free text (a decline's `role`, a candidate's `role_applied`) means."""
    key = resolve_role_key(session, role_text)
    return profile_for(session, key, team=team, location=location, at=at) if key else None


def versions(session: Session, role_key: str, *, team: str | None = None,
             location: str | None = None) -> list[tuple[RoleProfile, str]]:
    """Every version of one scope, newest first, each with its change note. NotFound without the scope."""
    row = _scope_row(session, role_key, team, location)
    found = session.scalars(select(RoleProfileVersion).where(RoleProfileVersion.profile_id == row.id)
                            .order_by(RoleProfileVersion.version.desc()))
    return [(_profile(row, v), v.note) for v in found]


def scopes(session: Session, role_key: str | None = None) -> list[RoleProfileRow]:
    query = select(RoleProfileRow).order_by(RoleProfileRow.role_key, RoleProfileRow.team.is_not(None),
                                            RoleProfileRow.team, RoleProfileRow.location.is_not(None),
                                            RoleProfileRow.location)
    if role_key is not None:
        query = query.where(RoleProfileRow.role_key == role_key)
    return list(session.scalars(query))


def latest(session: Session, row: RoleProfileRow) -> RoleProfileVersion:
    return session.scalars(select(RoleProfileVersion).where(
        RoleProfileVersion.profile_id == row.id, RoleProfileVersion.version == row.latest_version)).one()


def _scope_row(session: Session, role_key: str, team: str | None, location: str | None) -> RoleProfileRow:
    row = session.scalars(select(RoleProfileRow).where(
        RoleProfileRow.scope_key == scope_key(role_key, _clean_scope(team), _clean_scope(location)))).first()
    if row is None:
        raise NotFound(f"no role profile {scope_key(role_key, team, location)!r}")
    return row


def open_roles(session: Session) -> list[tuple[str, int]]:
    """(role_key, open positions) of every role with at least one opening, by key."""
    return [(r.role_key, r.count) for r in session.scalars(
        select(OpenPositions).where(OpenPositions.count > 0).order_by(OpenPositions.role_key))]


def open_positions_of(session: Session, role_key: str) -> int:
    row = session.get(OpenPositions, role_key)
    return row.count if row is not None else 0


def aliases_of(session: Session, role_key: str) -> list[str]:
    """The free-text names recorded for a role, as typed, sorted."""
    return sorted(session.scalars(select(RoleAlias.alias).where(RoleAlias.role_key == role_key)))


# ---------------------------------------------------------------- writing
def audit(session: Session, ops, kind: str, actor: str, now: datetime, details: dict) -> None:
    """One audit row (through the engine's `ops.audit` when given, the one trail; else written here)."""
    if ops is not None:
        ops.audit(session, None, kind, actor, None, None, details)
    else:
        session.add(AuditEvent(instance_id=None, at=now, actor=actor, kind=kind, element_id=None, task_id=None,
                               details=details))


def _clean_scope(value) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", str(value)).strip()
    return text or None


def check_key(role_key, *, path: str = "role_key") -> str:
    if not isinstance(role_key, str) or not ROLE_KEY.match(role_key) or role_key != role_key_of(role_key):
        raise RoleFactsInvalid([FieldError(path, "must be a key like backend_engineer: lower-case letters, "
                                                 "digits and _ (at most 64); role_key_of() makes one from a name")])
    return role_key


def check_scope(team, location) -> tuple[str | None, str | None]:
    errors = [FieldError(name, f"must be a text of at most {MAX_SCOPE} characters, or null")
              for name, value in (("team", team), ("location", location))
              if value is not None and (not isinstance(value, str) or len(value) > MAX_SCOPE)]
    if errors:
        raise RoleFactsInvalid(errors)
    return _clean_scope(team), _clean_scope(location)


def content_hash(title: dict, facts: dict, effective_from: date) -> str:
    text = json.dumps({"title": title, "facts": facts, "effective_from": effective_from.isoformat()},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_version(session: Session, role_key: str, title, facts, *, effective_from: date, actor: str, note: str,
                 team: str | None = None, location: str | None = None, now: datetime | None = None, ops=None,
                 expected_version: int | None = None) -> RoleProfile:
    """Write a new version of the scope's profile (the scope is made on its first version), audited
    `role_profile_saved`. Title and facts are checked first (RoleFactsInvalid naming each bad field;
    nothing written). The same title, facts and date as the latest version write nothing and return that
    version (a second click, a re-import). `expected_version`: the caller's If-Match (StaleVersion if the
    scope moved on; 0 = the scope must not exist yet)."""
    role_key = check_key(role_key)
    team, location = check_scope(team, location)
    title = validate_title(title)
    facts = validate_facts(facts)
    if not isinstance(effective_from, date) or isinstance(effective_from, datetime):
        raise RoleFactsInvalid([FieldError("effective_from", "must be a date YYYY-MM-DD")])
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise RoleFactsInvalid([FieldError("note", f"must be a text of at most {MAX_NOTE} characters")])
    now = now or datetime.now(timezone.utc)
    digest = content_hash(title, facts, effective_from)
    row = session.scalars(select(RoleProfileRow).where(
        RoleProfileRow.scope_key == scope_key(role_key, team, location)).with_for_update()).first()
    current = row.latest_version if row is not None else 0
    if expected_version is not None and expected_version != current:
        raise StaleVersion(f"role profile {scope_key(role_key, team, location)!r} is at version {current}, "
                           f"not {expected_version}: reload it and apply your change again")
    if row is None:
        row = RoleProfileRow(scope_key=scope_key(role_key, team, location), role_key=role_key, team=team,
                             location=location, latest_version=0, created_at=now)
        session.add(row)
        session.flush()
    else:
        last = latest(session, row)
        if last.content_hash == digest:
            return _profile(row, last)
    row.latest_version = current + 1
    version = RoleProfileVersion(profile_id=row.id, version=row.latest_version, effective_from=effective_from,
                                 title=title, facts=facts, content_hash=digest, note=note.strip(),
                                 changed_by=actor, changed_at=now)
    session.add(version)
    session.flush()
    audit(session, ops, "role_profile_saved", actor, now, {
        "role_key": role_key, "team": team, "location": location, "version": version.version,
        "effective_from": effective_from.isoformat(), "groups": sorted(facts), "note": note.strip()[:255]})
    return _profile(row, version)


def set_open_positions(session: Session, role_key: str, count, *, actor: str, now: datetime | None = None,
                       ops=None) -> int:
    """Set a role's openings now (not versioned), audited `role_open_positions_changed` when it changes."""
    role_key = check_key(role_key)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 100_000:
        raise RoleFactsInvalid([FieldError("open_positions", "must be a whole number >= 0 and <= 100000")])
    now = now or datetime.now(timezone.utc)
    row = session.get(OpenPositions, role_key, with_for_update=True)
    before = row.count if row is not None else 0
    if before == count:
        return count
    if row is None:
        session.add(OpenPositions(role_key=role_key, count=count, updated_by=actor, updated_at=now))
    else:
        row.count, row.updated_by, row.updated_at = count, actor, now
    audit(session, ops, "role_open_positions_changed", actor, now,
          {"role_key": role_key, "from": before, "to": count})
    return count


def set_aliases(session: Session, role_key: str, aliases, *, actor: str, now: datetime | None = None,
                ops=None) -> list[str]:
    """Replace a role's aliases (free texts that mean it). An alias another role holds is an error naming it;
    an alias whose slug is another role's key too. Audited `role_aliases_changed` when the set changes."""
    role_key = check_key(role_key)
    if not isinstance(aliases, list) or len(aliases) > MAX_ALIASES:
        raise RoleFactsInvalid([FieldError("aliases", f"must be a list of at most {MAX_ALIASES} texts")])
    errors, wanted = [], {}
    for i, alias in enumerate(aliases):
        if not isinstance(alias, str) or not alias.strip() or len(alias) > 255:
            errors.append(FieldError(f"aliases[{i}]", "must be a text of 1 to 255 characters"))
            continue
        key = role_key_of(alias)
        if not key:
            errors.append(FieldError(f"aliases[{i}]", "must contain letters or digits"))
            continue
        wanted.setdefault(key, alias.strip())
    taken = {a.alias_key: a for a in session.scalars(select(RoleAlias).where(RoleAlias.alias_key.in_(list(wanted))))}
    other_keys = set(session.scalars(select(RoleProfileRow.role_key).where(RoleProfileRow.role_key.in_(list(wanted)))))
    for i, alias in enumerate(aliases):
        key = role_key_of(alias) if isinstance(alias, str) else ""
        if key in taken and taken[key].role_key != role_key:
            errors.append(FieldError(f"aliases[{i}]", f"{alias!r} already means role {taken[key].role_key}"))
        elif key in other_keys and key != role_key:
            errors.append(FieldError(f"aliases[{i}]", f"{alias!r} is the key of role {key} itself"))
    if errors:
        raise RoleFactsInvalid(errors)
    now = now or datetime.now(timezone.utc)
    mine = {a.alias_key: a for a in session.scalars(select(RoleAlias).where(RoleAlias.role_key == role_key))}
    if {k: a.alias for k, a in mine.items()} == wanted:
        return aliases_of(session, role_key)
    gone = [k for k in mine if k not in wanted]
    if gone:
        session.execute(delete(RoleAlias).where(RoleAlias.alias_key.in_(gone)))
    for key, alias in wanted.items():
        if key in mine:
            mine[key].alias = alias
        else:
            session.add(RoleAlias(alias_key=key, alias=alias, role_key=role_key, created_by=actor, created_at=now))
    session.flush()
    audit(session, ops, "role_aliases_changed", actor, now, {"role_key": role_key, "aliases": sorted(wanted.values())})
    return aliases_of(session, role_key)


def role_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RoleProfileRow)) or 0
