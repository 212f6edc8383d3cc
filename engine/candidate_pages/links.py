"""Signed candidate links: issue, resolve, revoke, and the registry of the pages they open (issue 18).

A link is a random token (`secrets.token_urlsafe(32)`, 43 characters) in the path `/p/<token>`; only its
SHA-256 is stored (engine/candidate_pages/models.py), the URL carries nothing personal. A link has a kind
(one of KINDS: which page it opens), a language, an expiry (default RECALL_CANDIDATE_LINK_DAYS, 30 days)
and may be revoked by hand. `resolve` refuses with `LinkRefused(reason)`:

- "unknown"   no such token (never issued, tampered with, or its person erased: erasure deletes the rows)
- "wrong_kind" the link opens another kind of page than the one asked for
- "erased"    the person's record is gone or anonymised
- "no_consent" the person withdrew their talent-pool consent (any kind); for a growth link also a consent
              that is not granted or has expired (a growth page is recruiting: it needs the talent pool)
- "revoked"   revoked by hand (a link revoked because the consent was withdrawn says "no_consent")
- "expired"   past its expiry

Every function takes the caller's session and changes nothing it does not return; the units of work and
the audit are engine/candidate_pages/service.py's (`CandidateLinks`).

The page registry
-----------------
`/p/<token>` (api/public_pages.py) resolves the link and dispatches on its kind to the page registered for it:

    register_page(kind: str, render: Callable[[PageRequest], Page], *,
                  post: Callable[[PageRequest], Page] | None = None) -> None

- `render(request)` answers a GET: returns `Page(template, context, status=200)`; the template is a Jinja
  file under api/web/templates/ (e.g. "recall_pages/goals.html"); it is rendered with `context` plus
  `lang`, `other_lang`, `t` (pick a {"zh","en"} text in the page's language), `url` (the link's
  `/p/<token>`), `nonce` (put it in a hidden field named "nonce" of every form that posts back) and `kind`.
  The page opens its own unit of work (`request.engine.db.read_transaction()`).
- `post(request)` answers a form POSTed to `/p/<token>` (fields in `request.form`, among them "nonce" and
  the page's own); the blueprint has checked the nonce (CSRF: it is bound to the token and a few hours old
  at most) and the link before calling it. It returns the thank-you `Page` (a second click must not deliver
  twice: keep what it did on the link, like `CandidateLink.replied_at`).

A page module registers itself when imported (engine/candidate_pages/growth.py does so for "growth");
api/public_pages.py imports the page modules (one line each).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..archive_models import Candidate
from ..errors import FieldError, FormValidationError, RecallError
from .models import CandidateLink

KINDS = ("growth", "goals")
LANGS = ("zh", "en")
DEFAULT_DAYS = 30
MAX_DAYS = 365
URL_PREFIX = "/p/"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")
REASONS = ("unknown", "expired", "revoked", "no_consent", "erased", "wrong_kind")
NONCE_MAX_AGE = timedelta(hours=12)
CONSENT_WITHDRAWN = "consent_withdrawn"       # archive_hooks.WITHDRAWN


class LinkRefused(RecallError):
    """A link that opens nothing now; `reason` is one of REASONS."""

    def __init__(self, reason: str):
        super().__init__(f"candidate link refused: {reason}")
        self.reason = reason


class InvalidLink(FormValidationError):
    """A link cannot be issued as asked (HTTP 422, one entry naming the field); `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__([FieldError(field, message)])
        self.field = field
        self.message = message


@dataclass(frozen=True)
class IssuedLink:
    id: str
    token: str           # shown once, to whoever issued it; never stored
    url_path: str        # "/p/<token>"
    expires_at: datetime


@dataclass(frozen=True)
class Link:
    id: str
    kind: str
    candidate_id: str
    instance_id: str | None
    role_key: str | None
    lang: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    revoked_reason: str | None
    first_viewed_at: datetime | None
    last_viewed_at: datetime | None
    view_count: int
    view_seconds: int
    replied_at: datetime | None
    status: str          # active / expired / revoked (at the `now` it was read)

    @classmethod
    def of(cls, row: CandidateLink, now: datetime) -> "Link":
        status = "revoked" if row.revoked_at is not None else "expired" if row.expires_at <= now else "active"
        return cls(id=row.id, kind=row.kind, candidate_id=row.candidate_id, instance_id=row.instance_id,
                   role_key=row.role_key, lang=row.lang, created_by=row.created_by, created_at=row.created_at,
                   expires_at=row.expires_at, revoked_at=row.revoked_at, revoked_by=row.revoked_by,
                   revoked_reason=row.revoked_reason, first_viewed_at=row.first_viewed_at,
                   last_viewed_at=row.last_viewed_at, view_count=row.view_count or 0,
                   view_seconds=row.view_seconds or 0, replied_at=row.replied_at, status=status)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def issue(session: Session, *, candidate_id: str, kind: str, actor: str, now: datetime, lang: str = "zh",
          ttl_days: int | None = None, instance_id: str | None = None, role_key: str | None = None,
          default_days: int = DEFAULT_DAYS) -> IssuedLink:
    """A new link for a live candidate (InvalidLink naming the field otherwise; LinkRefused("erased") for an
    erased one, LinkRefused("no_consent") for a growth link without a consent in force)."""
    if kind not in KINDS:
        raise InvalidLink("kind", f"give one of {', '.join(KINDS)}")
    if lang not in LANGS:
        raise InvalidLink("lang", "give zh or en")
    days = default_days if ttl_days is None else ttl_days
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidLink("ttl_days", f"give whole days from 1 to {MAX_DAYS}")
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise InvalidLink("candidate_id", "no such candidate")
    _check_person(candidate, kind, now)
    token = secrets.token_urlsafe(32)
    row = CandidateLink(id=str(uuid.uuid4()), token_hash=token_hash(token), kind=kind, candidate_id=candidate_id,
                        instance_id=instance_id, role_key=role_key, lang=lang, created_by=actor, created_at=now,
                        expires_at=now + timedelta(days=days), view_count=0, view_seconds=0)
    session.add(row)
    session.flush()
    return IssuedLink(id=row.id, token=token, url_path=URL_PREFIX + token, expires_at=row.expires_at)


def _check_person(candidate: Candidate | None, kind: str, now: datetime) -> None:
    if candidate is None or candidate.anonymised_at is not None:
        raise LinkRefused("erased")
    if candidate.consent_withdrawn_at is not None:
        raise LinkRefused("no_consent")
    if kind == "growth" and not (candidate.consent_granted and candidate.consent_expires_at is not None
                                 and candidate.consent_expires_at > now):
        raise LinkRefused("no_consent")


def row_for_token(session: Session, token: str, *, for_update: bool = False) -> CandidateLink | None:
    if not isinstance(token, str) or not _TOKEN.match(token):
        return None
    query = select(CandidateLink).where(CandidateLink.token_hash == token_hash(token))
    return session.scalar(query.with_for_update() if for_update else query)


def resolve(session: Session, token: str, *, kind: str | None, now: datetime, for_update: bool = False) -> Link:
    """The link `token` opens, checked now: its kind (`kind` None: any), the person, their consent, revocation
    and expiry, in that order. Raises LinkRefused(reason)."""
    row = row_for_token(session, token, for_update=for_update)
    if row is None:
        raise LinkRefused("unknown")
    if kind is not None and row.kind != kind:
        raise LinkRefused("wrong_kind")
    _check_person(session.get(Candidate, row.candidate_id), row.kind, now)
    if row.revoked_at is not None:
        raise LinkRefused("no_consent" if row.revoked_reason == CONSENT_WITHDRAWN else "revoked")
    if row.expires_at <= now:
        raise LinkRefused("expired")
    return Link.of(row, now)


def revoke(session: Session, link_id: str, *, actor: str, now: datetime) -> bool:
    """Revoke a link by hand; False when it was revoked already (LinkRefused("unknown") when there is none)."""
    row = session.get(CandidateLink, link_id, with_for_update=True)
    if row is None:
        raise LinkRefused("unknown")
    if row.revoked_at is not None:
        return False
    row.revoked_at, row.revoked_by, row.revoked_reason = now, actor, "hand"
    session.flush()
    return True


def links_of(session: Session, candidate_id: str, *, now: datetime, limit: int = 100) -> list[Link]:
    rows = session.scalars(select(CandidateLink).where(CandidateLink.candidate_id == candidate_id)
                           .order_by(CandidateLink.created_at.desc(), CandidateLink.id).limit(limit))
    return [Link.of(r, now) for r in rows]


# ---------------------------------------------------------------- per-render nonces (CSRF of the public forms)
def _mac(token: str, message: str) -> str:
    return hmac.new(token.encode("ascii", "replace"), message.encode(), hashlib.sha256).hexdigest()[:32]


def make_nonce(token: str, now: datetime) -> str:
    """A nonce for one render of the page of `token`: only who holds the token can make one."""
    stamp = f"{int(now.timestamp())}.{secrets.token_hex(6)}"
    return f"{stamp}.{_mac(token, 'nonce:' + stamp)}"


def check_nonce(token: str, nonce: str, now: datetime) -> bool:
    parts = nonce.split(".") if isinstance(nonce, str) and len(nonce) < 100 else []
    if len(parts) != 3 or not parts[0].isdigit():
        return False
    if not hmac.compare_digest(_mac(token, f"nonce:{parts[0]}.{parts[1]}"), parts[2]):
        return False
    made = datetime.fromtimestamp(int(parts[0]), tz=now.tzinfo)
    return made - timedelta(minutes=5) <= now <= made + NONCE_MAX_AGE


# ---------------------------------------------------------------- the page registry
@dataclass(frozen=True)
class Page:
    template: str                 # e.g. "recall_pages/growth.html", under api/web/templates/
    context: dict = field(default_factory=dict)
    status: int = 200


@dataclass(frozen=True)
class PageRequest:
    link: Link
    lang: str                     # the page's language: the link's, or the reader's switch (?lang=)
    engine: object                # engine.service.RecallEngine: db, clock, ops, settings
    url: str                      # "/p/<token>": where the page's forms post back
    nonce: str
    form: Mapping[str, str] = field(default_factory=dict)     # a POST's fields (empty for a GET)
    now: datetime | None = None


@dataclass(frozen=True)
class RegisteredPage:
    kind: str
    render: Callable[[PageRequest], Page]
    post: Callable[[PageRequest], Page] | None = None


_PAGES: dict[str, RegisteredPage] = {}


def register_page(kind: str, render: Callable[[PageRequest], Page], *,
                  post: Callable[[PageRequest], Page] | None = None) -> None:
    """Make `render` (and `post`) the page links of `kind` open (again: the later one wins)."""
    if kind not in KINDS:
        raise ValueError(f"unknown candidate page kind {kind!r}: one of {KINDS}")
    _PAGES[kind] = RegisteredPage(kind, render, post)


def page_for(kind: str) -> RegisteredPage | None:
    return _PAGES.get(kind)
