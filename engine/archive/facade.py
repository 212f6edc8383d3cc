"""`TalentArchive`: the archive's front door; every public method is one unit of work."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select

from .. import days, vocabulary
from ..archive_models import Candidate, CandidateDecline, CandidateSignal
from ..assignment import MANAGER_GROUP, check_may_hold
from ..definitions import LoadedDefinition, latest_definition_id
from ..errors import NotFound
from ..operations import SignalOutcome
from ..candidate_pages import archive_hooks as link_data
from ..channels import archive_hooks as channel_data
from ..runtime import again_on_conflict
from . import access, analytics, cases, consent, history, merge, privacy, records, search, sync
from . import import_models as import_rows
from .access import Viewer
from .search import SearchFilters
from .views import (
    CONTACT_FIELDS, CandidatePage, CandidateView, DeclineResult, ErasureReport, JobReport, SignalResult,
)

log = logging.getLogger("recall.archive")
IMPORT_START_VARIABLES = ("imported", "cadence_entry", "cadence_due")


class TalentArchive:
    """Candidates, declines, signals, consent; search, funnel, erasure and the privacy jobs."""

    def __init__(self, engine, *, settings: privacy.PrivacySettings | None = None):
        self.engine = engine            # engine.service.RecallEngine
        self.db = engine.db
        self.clock = engine.clock
        self.settings = settings or privacy.PrivacySettings.from_settings(engine.settings)

    # ---------------------------------------------------------------- candidates
    def create_candidate(self, data: dict, *, actor: str, check_duplicates: bool = False,
                         viewer: Viewer | None = None) -> CandidateView:
        """A new candidate (a name required). `check_duplicates`: refuse with DuplicateCandidate
        when one with the same phone, email or name and role exists (a person at a form). With an
        `external_id`, linked to it for the caller's source (sync.py; taken: ExternalIdTaken)."""
        viewer = viewer or Viewer(actor, "admin")

        def once() -> CandidateView:
            with self.db.write_transaction() as s:
                external_id = data.get("external_id")
                source = sync.source_of(viewer, data) if external_id else None
                if external_id:
                    sync.check_free(s, source, external_id)
                candidate = self._create(s, {k: v for k, v in data.items() if k not in ("external_id", "source")},
                                         actor=actor, check_duplicates=check_duplicates)
                if external_id:
                    sync.link(s, source, sync.CANDIDATE, external_id, candidate.id, now=self.clock.now())
                return self._detail(s, candidate, viewer)
        return sync.racing(once) if data.get("external_id") else once()

    def _create(self, s, data: dict, *, actor: str, check_duplicates: bool) -> Candidate:
        if check_duplicates:
            found = records.duplicates(s, data)
            if found:
                raise records.DuplicateCandidate(found)
        candidate = records.create(s, data, actor=actor, now=self.clock.now())
        self.engine.ops.audit(s, None, "candidate_created", actor, None, None,
                              {"candidate_id": candidate.id, "fields": sorted(k for k in data if data[k])})
        return candidate

    def update_candidate(self, candidate_id: str, changes: dict, *, actor: str,
                         viewer: Viewer | None = None) -> CandidateView:
        """Change profile fields, tags or consent; a withdrawn consent ends the running cases now.
        An integrator (`viewer`) only within its scope (sync.py); an `external_id` (with an admin's
        `source`) links the candidate to that source's id.

        A person's change: when the worker changed one of the cases meanwhile, it runs again."""
        viewer = viewer or Viewer(actor, "admin")
        return again_on_conflict(lambda: self._update_candidate(candidate_id, changes, actor=actor, viewer=viewer),
                                 pinned=False)

    def _update_candidate(self, candidate_id: str, changes: dict, *, actor: str, viewer: Viewer) -> CandidateView:
        with self.db.write_transaction() as s:
            now = self.clock.now()
            candidate = records.load(s, candidate_id, for_update=True)
            sync.check_scope(s, candidate, viewer)
            external_id = changes.get("external_id")
            if external_id:
                source = sync.source_of(viewer, changes)
                found = sync.find(s, source, sync.CANDIDATE, external_id)
                if found is not None and found.candidate_id != candidate.id:
                    raise sync.ExternalIdTaken(sync.CANDIDATE, external_id, found.candidate_id, found.candidate_id)
                if found is None:
                    sync.link(s, source, sync.CANDIDATE, external_id, candidate.id, now=now)
            changes = {k: v for k, v in changes.items() if k not in ("external_id", "source")}
            records.update(s, candidate, changes, actor=actor, now=now)
            self.engine.ops.audit(s, None, "candidate_changed", actor, None, None,
                                      {"candidate_id": candidate.id,
                                       "fields": sorted([*changes, *(["external_id"] if external_id else [])])})
            if candidate.consent_withdrawn_at is not None and candidate.consent_lapsed_at is None:
                consent.lapse(self.engine, s, candidate, now=now, actor=actor)
            return self._detail(s, candidate, viewer)

    def get_candidate(self, candidate_id: str, *, viewer: Viewer) -> CandidateView:
        """The candidate with declines, consent, cases, messages and timeline; contact fields only
        for those who may see them (a manager's read of them is audited)."""
        # Only a manager's read writes (its audit row); the others read without a write lock.
        unit = self.db.write_transaction if viewer.role in access.HANDOFF_ROLES else self.db.read_transaction
        with unit() as s:
            candidate = records.load(s, candidate_id)
            return self._detail(s, candidate, viewer)

    def search(self, filters: SearchFilters, *, limit: int = 50, offset: int = 0,
               count: str = "capped", sort: str = "-listed_at", after: tuple | None = None) -> CandidatePage:
        """One page of matching candidates, newest listing first (or `sort`; `after`: keyset paging),
        with the total (see search.find)."""
        with self.db.read_transaction() as s:
            known = vocabulary.known(s)         # the follow-ups of every deployed version's cadence
            found = search.find(s, filters, now=self.clock.now(), limit=limit, offset=offset, count=count,
                                vocabulary=known, sort=sort, after=after)
            rows = search.load_page(s, found.ids)
            ids = [c.id for c in rows]
            tags = records.tags_of(s, ids)
            last = records.last_declines(s, ids)
            due = search.next_follow_ups(s, ids, known, self.clock.now())
            items = []
            for c in rows:
                view = records.summary_view(c, tags=tags[c.id], contact=True, last_decline=last.get(c.id))
                view.set_next_follow_up(due.get(c.id))
                items.append(view)
            return CandidatePage(items=items, total=found.total, total_at_least=found.total_at_least)

    # ---------------------------------------------------------------- declines and signals
    def record_decline(self, candidate_id: str, decline: dict, *, actor: str,
                       source: str | None = None) -> DeclineResult:
        """Record a decline and start `offer_recall` for it; workflow data gets the candidate id,
        reason, date, language, needs and questions — never contact data. With an `external_id`
        its source (default: `actor`) used before for this candidate: that decline (`existing`)."""
        def once() -> DeclineResult:
            with self.db.write_transaction() as s:
                candidate = records.load(s, candidate_id, for_update=True)
                return self._record_decline(s, candidate, decline, actor=actor, source=source or actor)
        return sync.racing(once) if decline.get("external_id") else once()

    def _record_decline(self, s, candidate: Candidate, decline: dict, *, actor: str, source: str,
                        definition: LoadedDefinition | None = None, had_declines: bool | None = None) -> DeclineResult:
        """`definition`: the newest offer_recall, when the caller read it already (a bulk call: once
        per chunk); `had_declines`: whether the candidate had a decline before, when it knows."""
        external_id = decline.get("external_id")
        if external_id:
            found = sync.find(s, source, sync.DECLINE, external_id)
            if found is not None:
                if found.candidate_id != candidate.id:
                    raise sync.ExternalIdTaken(sync.DECLINE, external_id, found.decline_id, found.candidate_id)
                row = s.get(CandidateDecline, found.decline_id)
                return DeclineResult(decline_id=row.id, instance_id=row.instance_id, candidate_id=candidate.id,
                                     external_id=external_id, existing=True)
        definition = definition or self.recall_definition(s)
        records.check_reason(definition.vocabulary if definition else vocabulary.EMPTY, decline.get("reason"))
        if decline.get("hiring_manager"):       # the hand-off's default: an active manager (422 naming it)
            check_may_hold(s, decline["hiring_manager"], MANAGER_GROUP, field="hiring_manager")
        now = self.clock.now()
        decline_date: datetime = decline.get("decline_date") or now
        if not isinstance(decline_date, datetime):      # a calendar day: the count starts with it (engine/days.py)
            decline_date = days.start_of_day(decline_date)
        needs = list(decline.get("needs") or candidate.needs or [])
        questions = list(decline.get("open_questions") or candidate.open_questions or [])
        lang = decline.get("lang") or "zh"
        row = CandidateDecline(id=str(uuid.uuid4()), candidate_id=candidate.id, reason=decline["reason"],
                               detail=decline.get("detail"), decline_date=decline_date,
                               role=decline.get("role") or candidate.role_applied,
                               hiring_manager=decline.get("hiring_manager"), needs=needs,
                               open_questions=questions, lang=lang, created_at=now, created_by=actor)
        if had_declines is None:
            had_declines = s.scalar(select(CandidateDecline.id)
                                    .where(CandidateDecline.candidate_id == candidate.id).limit(1)) is not None
        if decline.get("consent") is not None:
            records.record_consent(s, candidate, decline["consent"], actor=actor, now=now, source="decline")
        # listed by the latest decline (the creation time only until the first one)
        candidate.listed_at = max(candidate.listed_at, decline_date) if had_declines else decline_date
        candidate.updated_at = now
        records.refresh_retention(candidate)
        variables = {"candidate_id": candidate.id, "decline_date": decline_date.isoformat(),
                     "decline_reason": row.reason, "lang": lang, "needs": needs, "open_questions": questions,
                     **records.decline_prefill(candidate, row),
                     # an imported past decline's place in the cadence (engine/archive/imports.py); the API's
                     # decline schemas do not take these keys
                     **{k: decline[k] for k in IMPORT_START_VARIABLES if k in decline}}
        # the case first: the decline row is then written once, with its case's id
        row.instance_id = self.engine.ops.start(s, cases.RECALL_PROCESS, variables=variables, business_key=candidate.id,
                                                actor=actor, definition_id=definition.id if definition else None
                                                ).instance.id
        s.add(row)
        records.reindex(s, candidate)
        self.engine.ops.audit(s, row.instance_id, "decline_recorded", actor, None, None,
                                  {"candidate_id": candidate.id, "decline_id": row.id,
                                   "decline_reason": row.reason, "decline_date": decline_date.isoformat()})
        if external_id:
            sync.link(s, source, sync.DECLINE, external_id, candidate.id, decline_id=row.id, now=now)
        return DeclineResult(decline_id=row.id, instance_id=row.instance_id, candidate_id=candidate.id,
                             external_id=external_id)

    def recall_definition(self, s) -> LoadedDefinition | None:
        """The newest deployed offer_recall (what a decline starts; its vocabulary names the reasons),
        or None when none is deployed."""
        try:
            return self.engine.ops.runtime.specs.get(s, latest_definition_id(s, cases.RECALL_PROCESS))
        except NotFound:
            return None

    def record_signal(self, candidate_id: str, signal: dict, *, actor: str) -> SignalResult:
        """Record a signal and deliver `candidate_signal` to the candidate's cases in their cadence:
        each raises `react_to_signal` for HR at once. Runs again (nothing of the first try kept) when
        the worker changed one of those cases meanwhile."""
        return again_on_conflict(lambda: self._record_signal(candidate_id, signal, actor=actor), pinned=False)

    def _record_signal(self, candidate_id: str, signal: dict, *, actor: str) -> SignalResult:
        with self.db.write_transaction() as s:
            candidate = records.load(s, candidate_id, for_update=True)
            now = self.clock.now()
            row = CandidateSignal(candidate_id=candidate.id, kind=signal["kind"], text=signal.get("text"),
                                  source=signal.get("source"), consent_noted=bool(signal.get("consent_noted")),
                                  received_at=now, recorded_by=actor, delivered_to=[])
            s.add(row)
            s.flush()
            payload = {"signal_id": row.id, "kind": row.kind, "text": row.text, "source": row.source,
                       "consent_noted": row.consent_noted, "received_at": now.isoformat()}
            correlation = {"candidate_id": candidate.id}
            targets = cases.in_cadence(s, cases.instance_ids(s, candidate.id))
            delivered = [i for i in targets if self.engine.ops.signal(
                s, i, "candidate_signal", payload, correlation=correlation, actor=actor) is SignalOutcome.DELIVERED]
            row.delivered_to = delivered
            candidate.updated_at = now
            records.reindex(s, candidate)
            self.engine.ops.audit(s, None, "signal_recorded", actor, None, None,
                                      {"candidate_id": candidate.id, "signal_id": row.id, "kind": row.kind,
                                       "delivered_to": delivered})
            return SignalResult(signal_id=row.id, candidate_id=candidate.id, delivered_to=delivered,
                                status="delivered" if delivered else "recorded")

    # ---------------------------------------------------------------- duplicates
    def merge(self, candidate_id: str, absorbed_id: str, *, actor: str) -> CandidateView:
        """Merge record `absorbed_id` into `candidate_id`, which survives (engine/archive/merge.py): one
        unit of work, run again when the worker changed one of the cases meanwhile. When the merged
        consent is withdrawn, the running cases end now (consent.lapse), as on a change."""
        return again_on_conflict(lambda: self._merge(candidate_id, absorbed_id, actor=actor), pinned=False)

    def _merge(self, candidate_id: str, absorbed_id: str, *, actor: str) -> CandidateView:
        with self.db.write_transaction() as s:
            now = self.clock.now()
            survivor, _ = merge.merge(self.engine, s, candidate_id, absorbed_id, actor=actor, now=now)
            if merge.must_end_cases(s, survivor):
                consent.lapse(self.engine, s, survivor, now=now, actor=actor)
            return self._detail(s, survivor, Viewer(actor, "admin"))

    def merged_into(self, candidate_id: str) -> str | None:
        """The record a merged (absorbed) id lives on in, or None."""
        with self.db.read_transaction() as s:
            return merge.merged_into(s, candidate_id)

    # ---------------------------------------------------------------- privacy
    def erase(self, candidate_id: str, *, actor: str, reason: str = "erasure",
              viewer: Viewer | None = None) -> ErasureReport:
        """Remove the person's personal data everywhere and cancel their running cases (again when
        the worker changed one of them meanwhile). An integrator (`viewer`) only within its scope."""
        def once() -> ErasureReport:
            with self.db.write_transaction() as s:
                candidate = records.load(s, candidate_id, for_update=True)
                sync.check_scope(s, candidate, viewer)
                return self._erase(s, candidate, actor=actor, reason=reason)

        report = again_on_conflict(once, pinned=False)
        if not privacy.checkpoint(self.db):
            privacy.mark_pending(self.engine, report.candidate_id)
            report.status = "pending"
        return report

    def _erase(self, s, candidate: Candidate, *, actor: str, reason: str) -> ErasureReport:
        now = self.clock.now()
        privacy.secure_delete_on(s)
        scrubber = privacy.scrubber_for(s, candidate)
        ids = cases.instance_ids(s, candidate.id, thorough=True)     # every case that refers to the person
        ids += [i for i in merge.cases_of_absorbed(s, candidate.id) if i not in ids]   # and merged records'
        # side rows first: the cancellations below only add rows without personal data
        tasks, audits, buffered = privacy.scrub_side_rows(s, ids, candidate.id, scrubber)
        cancelled, scrubbed = privacy.scrub_cases(self.engine, s, ids, scrubber, actor=actor, reason=reason)
        # mail from or about them (before their address is blanked), their sends emptied, WeCom contact
        # links, what diagrams told employees about their cases
        channel_data.forget(s, candidate, ids, now=now)
        link_data.forget(s, candidate.id)      # their growth and goals page links
        privacy.erase_archive(s, candidate, now=now, reason=reason)
        sync.forget(s, candidate.id)        # the source systems' ids would point at the person
        import_rows.forget(s, candidate.id)     # and the import rows they came from (imports.py)
        kind = "candidate_erased" if reason == "erasure" else "candidate_anonymised"
        self.engine.ops.audit(s, None, kind, actor, None, None,
                                  {"candidate_id": candidate.id, "reason": reason, "cases": scrubbed,
                                   "cases_cancelled": cancelled})
        return ErasureReport(candidate_id=candidate.id, erased_at=now, reason=reason, cases_cancelled=cancelled,
                             cases_scrubbed=scrubbed, tasks_scrubbed=tasks, audit_events_scrubbed=audits,
                             buffered_messages_scrubbed=buffered)

    def run_jobs(self, *, limit: int = 100) -> JobReport:
        """Renewal requests, lapses and anonymisation (each candidate its own unit of work).

        Consent answers given in tasks are applied when the task is completed (consent.record_task_answer),
        never here: a job does not infer what a person decided."""
        report = JobReport()
        report.erasures_completed = privacy.finish_pending(self.engine)
        now = self.clock.now()
        with self.db.read_transaction() as s:
            renewals = consent.renewals_due(s, now=now, renewal_days=self.settings.renewal_days, limit=limit)
            lapses = consent.lapses_due(s, now=now, limit=limit)

        def renew(s, candidate):
            if candidate.consent_renewal_requested_at is None:
                consent.request_renewal(self.engine, s, candidate, now=now)
                return True
            return False

        def lapse(s, candidate):
            return None if candidate.consent_lapsed_at is not None else consent.lapse(self.engine, s, candidate, now=now)

        for _, done in self._each_candidate(renewals, renew, report):
            report.renewals_requested += bool(done)
        for _, cancelled in self._each_candidate(lapses, lapse, report):
            if cancelled is not None:
                report.cases_cancelled += len(cancelled)
                report.consents_lapsed += 1
        with self.db.read_transaction() as s:
            due = consent.anonymisations_due(s, now=now, retention_days=self.settings.retention_days, limit=limit)

        def anonymise(s, candidate):
            if candidate.anonymised_at is None:
                self._erase(s, candidate, actor="worker:retention", reason="retention")
                return True
            return False

        anonymised = [candidate_id for candidate_id, done in self._each_candidate(due, anonymise, report) if done]
        report.anonymised += len(anonymised)
        if anonymised and not privacy.checkpoint(self.db):
            for candidate_id in anonymised:
                privacy.mark_pending(self.engine, candidate_id)
        return report

    def _each_candidate(self, candidate_ids, unit, report: JobReport):
        """(id, result) of `unit(session, candidate)` for each candidate, each in its own unit of work.

        A unit that meets a concurrent change of one of the candidate's cases runs again; one that
        still fails is logged and counted (`report.failed`) and left for the next round: one
        candidate never stops the job for the others (found by the model-based suite)."""
        for candidate_id in candidate_ids:
            def once():
                with self.db.write_transaction() as s:
                    candidate = s.get(Candidate, candidate_id)
                    return None if candidate is None else unit(s, candidate)
            try:
                yield candidate_id, again_on_conflict(once, pinned=False)
            except Exception as exc:  # noqa: BLE001 - the next round retries this candidate
                report.failed += 1
                log.warning("privacy job %s for candidate %s failed, retried next round: %s: %s",
                            unit.__name__, candidate_id, type(exc).__name__, exc)

    # ---------------------------------------------------------------- analytics
    def funnel(self, *, group_by: str | None = "reason") -> dict:
        with self.db.read_transaction() as s:
            return analytics.funnel(s, now=self.clock.now(), group_by=group_by)

    # ---------------------------------------------------------------- views
    def _detail(self, s, candidate: Candidate, viewer: Viewer) -> CandidateView:
        ids = cases.instance_ids(s, candidate.id)
        granted = access.decide(s, viewer, ids, created_by=candidate.created_by)
        declines = records.declines_of(s, candidate.id)
        signals = records.signals_of(s, candidate.id)
        view = records.summary_view(candidate, tags=records.tags_of(s, [candidate.id])[candidate.id],
                                    contact=granted.contact, last_decline=declines[-1] if declines else None)
        view.declines = [records.decline_view(d) for d in declines]
        view.external_ids = sync.external_ids_of(s, candidate.id)
        view.cases = history.cases(s, ids)
        events = history.case_events(s, ids)
        known = vocabulary.known(s)
        view.messages = history.messages(events, signals, known)
        view.signals = [records.signal_view(x) for x in signals]
        view.timeline = history.timeline(candidate, declines, records.consents_of(s, candidate.id), signals, events)
        history.name_people(s, view)
        view.set_next_follow_up(search.next_follow_ups(s, [candidate.id], known, self.clock.now()).get(candidate.id))
        if granted.handoff_task is not None:
            task = granted.handoff_task
            shown = [f for f in CONTACT_FIELDS if getattr(candidate, f)]
            self.engine.ops.audit(s, task.instance_id, "contact_viewed", viewer.name, task.element_id, task.id,
                                      {"candidate_id": candidate.id, "fields": shown})
        return view

    def exists(self, candidate_id: str) -> bool:
        with self.db.read_transaction() as s:
            return s.scalar(select(Candidate.id).where(Candidate.id == candidate_id,
                                                       Candidate.anonymised_at.is_(None))) is not None


__all__ = ["TalentArchive", "NotFound"]
