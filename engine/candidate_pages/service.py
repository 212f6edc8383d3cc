"""The units of work of candidate links: what HR does (issue, list, revoke) and what opening a page does
(a view counted, a `growth_page_viewed` signal at most once per link and hour, the seconds read, the
"I'd like to talk" reply delivered once). Every change is audited on the case the link was issued from
(or on no case): `candidate_link_issued`, `candidate_link_revoked`, `candidate_link_viewed`,
`candidate_link_replied` — ids, kinds and counts only, never the token.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from ..archive import TalentArchive, cases
from ..archive_models import Candidate, CandidateSignal
from ..messages import MessageNotAwaited, MessageRejected
from . import links
from .models import CandidateLink

log = logging.getLogger(__name__)

ACTOR = "candidate:page"            # who opened a page or pressed its button: the link's holder
SIGNAL_KIND = "growth_page_viewed"
SIGNAL_EVERY = timedelta(hours=1)
MAX_BEACON_SECONDS = 3600          # one beacon adds at most an hour of reading
TALK_MESSAGE = "candidate_replied"
TALK_TEXT = {"growth": "我想聊聊 / I'd like to talk (growth page)", "goals": "我想聊聊 / I'd like to talk (goals page)"}


@dataclass(frozen=True)
class Opened:
    link: links.Link
    counted: bool                  # a view counted (not a HEAD, not a link preview)
    signal_id: int | None          # the growth_page_viewed recorded by this view, if one was due


class CandidateLinks:
    def __init__(self, engine, *, default_days: int | None = None):
        self.engine = engine
        self.db = engine.db
        self.clock = engine.clock
        settings = getattr(engine, "settings", None)
        self.default_days = default_days or getattr(settings, "candidate_link_days", None) or links.DEFAULT_DAYS

    # ---------------------------------------------------------------- HR
    def issue(self, candidate_id: str, *, kind: str, actor: str, lang: str = "zh", ttl_days: int | None = None,
              instance_id: str | None = None, role_key: str | None = None) -> links.IssuedLink:
        with self.db.write_transaction() as s:
            issued = links.issue(s, candidate_id=candidate_id, kind=kind, actor=actor, now=self.clock.now(),
                                 lang=lang, ttl_days=ttl_days, instance_id=instance_id, role_key=role_key,
                                 default_days=self.default_days)
            self.engine.ops.audit(s, instance_id, "candidate_link_issued", actor, None, None, {
                "candidate_id": candidate_id, "link_id": issued.id, "kind": kind, "lang": lang,
                "expires_at": issued.expires_at.isoformat()})
            return issued

    def list(self, candidate_id: str, *, limit: int = 100) -> list[links.Link]:
        with self.db.read_transaction() as s:
            return links.links_of(s, candidate_id, now=self.clock.now(), limit=limit)

    def get(self, link_id: str) -> links.Link | None:
        with self.db.read_transaction() as s:
            row = s.get(CandidateLink, link_id)
            return links.Link.of(row, self.clock.now()) if row is not None else None

    def revoke(self, link_id: str, *, actor: str) -> links.Link:
        """Revoke (again: unchanged, not audited twice). LinkRefused("unknown") when there is no such link."""
        with self.db.write_transaction() as s:
            now = self.clock.now()
            changed = links.revoke(s, link_id, actor=actor, now=now)
            row = s.get(CandidateLink, link_id)
            if changed:
                self.engine.ops.audit(s, row.instance_id, "candidate_link_revoked", actor, None, None, {
                    "candidate_id": row.candidate_id, "link_id": row.id, "kind": row.kind})
            return links.Link.of(row, now)

    # ---------------------------------------------------------------- the candidate
    def resolve(self, token: str, *, kind: str | None = None) -> links.Link:
        with self.db.read_transaction() as s:
            return links.resolve(s, token, kind=kind, now=self.clock.now())

    def open(self, token: str, *, counted: bool = True) -> Opened:
        """Resolve the link for a page view (LinkRefused otherwise). A counted view is added to the link and
        audited; the first counted view of a growth link in an hour records `growth_page_viewed` on the
        candidate (TalentArchive.record_signal: it raises react_to_signal for HR in a case in cadence)."""
        with self.db.write_transaction() as s:
            now = self.clock.now()
            link = links.resolve(s, token, kind=None, now=now, for_update=counted)
            if not counted:
                return Opened(link, False, None)
            row = s.get(CandidateLink, link.id)
            row.view_count = (row.view_count or 0) + 1
            row.first_viewed_at = row.first_viewed_at or now
            row.last_viewed_at = now
            signal_due = row.kind == "growth" and (row.signalled_at is None or row.signalled_at + SIGNAL_EVERY <= now)
            if signal_due:
                row.signalled_at = now          # claimed here: a second view racing this one records none
            self.engine.ops.audit(s, row.instance_id, "candidate_link_viewed", ACTOR, None, None, {
                "candidate_id": row.candidate_id, "link_id": row.id, "kind": row.kind, "views": row.view_count})
            link = links.Link.of(row, now)
        signal_id = None
        if signal_due:
            result = TalentArchive(self.engine).record_signal(link.candidate_id, {
                "kind": SIGNAL_KIND, "text": "viewed the growth page", "source": "growth_page"}, actor=ACTOR)
            signal_id = result.signal_id
            with self.db.write_transaction() as s:
                row = s.get(CandidateLink, link.id)
                if row is not None:
                    row.signal_id = signal_id
        return Opened(link, True, signal_id)

    def seen(self, token: str, seconds) -> int:
        """A page's beacon: `seconds` read (0..3600, else refused with InvalidLink) added to the link, and
        to the text of the signal this link recorded last. Returns the link's seconds so far."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= MAX_BEACON_SECONDS:
            raise links.InvalidLink("seconds", f"give a number of seconds from 0 to {MAX_BEACON_SECONDS}")
        with self.db.write_transaction() as s:
            now = self.clock.now()
            link = links.resolve(s, token, kind=None, now=now, for_update=True)
            row = s.get(CandidateLink, link.id)
            row.view_seconds = (row.view_seconds or 0) + int(round(seconds))
            if row.signal_id is not None:
                signal = s.get(CandidateSignal, row.signal_id)
                if signal is not None and signal.candidate_id == row.candidate_id and signal.kind == SIGNAL_KIND:
                    signal.text = f"viewed the growth page ({row.view_seconds} s)"
            return row.view_seconds

    def talk(self, token: str) -> tuple[links.Link, bool]:
        """"I'd like to talk": `candidate_replied` (channel growth_page) to the candidate's case, once per
        link (a second press delivers nothing: (link, False)). With no live case of theirs (a buffered reply
        would wait for a case that never comes) or none that may take it, the wish is also recorded as the
        signal `page_talk_requested`, so HR sees it."""
        with self.db.write_transaction() as s:
            now = self.clock.now()
            link = links.resolve(s, token, kind=None, now=now, for_update=True)
            row = s.get(CandidateLink, link.id)
            if row.replied_at is not None:
                return link, False
            row.replied_at = now
            payload = {"text": TALK_TEXT.get(row.kind, TALK_TEXT["growth"]), "channel": f"{row.kind}_page",
                       "replied_at": now.isoformat()}
            delivered = None
            try:
                delivery = self.engine.ops.receive_message(s, TALK_MESSAGE, {"candidate_id": row.candidate_id},
                                                           payload, actor=ACTOR, message_id=f"candidate_link:{row.id}")
                delivered = list(delivery.delivered_to or [])
                if not delivered and not cases.live_cases(s, cases.instance_ids(s, row.candidate_id, thorough=True)):
                    delivered = None        # kept for a case that will never come: HR learns it from a signal
            except (MessageRejected, MessageNotAwaited) as exc:
                log.info("link %s: the talk request is no reply to a case (%s); recorded as a signal", row.id,
                         type(exc).__name__)
            self.engine.ops.audit(s, row.instance_id, "candidate_link_replied", ACTOR, None, None, {
                "candidate_id": row.candidate_id, "link_id": row.id, "kind": row.kind,
                "delivered_to": delivered or []})
            link = links.Link.of(row, now)
        if delivered is None:
            TalentArchive(self.engine).record_signal(link.candidate_id, {
                "kind": "page_talk_requested", "text": payload["text"], "source": payload["channel"]}, actor=ACTOR)
        return link, True

    def candidate_exists(self, candidate_id: str) -> bool:
        with self.db.read_transaction() as s:
            return s.scalar(select(Candidate.id).where(Candidate.id == candidate_id)) is not None
