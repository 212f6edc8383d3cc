"""The studio's front door (one unit of work per method): each person's drafts, the diff of a draft
against the deployed versions, deploying a draft with a change note, and moving running cases between
versions (engine/studio/migrate.py). The API (api/resources/studio.py) calls these; nothing below commits."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from ..bundle import check_files
from ..errors import BundleInvalid, NotFound, StaleVersion
from ..models import ProcessDefinition
from ..runtime import again_on_conflict
from . import drafts as content
from .diff import diff_bundles
from .drafts import DraftContentError
from .migrate import Mover, Plan
from .models import StudioDraft, StudioMigrationRun

MAX_NOTE = 2000
MAX_CASES = 5000        # cases one migration call looks at


class NoteRequired(DraftContentError):
    pass


@dataclass(frozen=True)
class Viewer:
    name: str
    admin: bool = False


def draft_dict(d: StudioDraft, *, with_content: bool = True) -> dict:
    out = {"id": d.id, "owner": d.owner, "title": d.title, "source": d.source, "based_on": d.based_on,
           "version": d.version, "size_bytes": d.size_bytes, "created_at": d.created_at,
           "updated_at": d.updated_at, "deployed_at": d.deployed_at, "deployed_versions": d.deployed_versions,
           "file_names": sorted(d.files), "form_names": sorted(d.forms)}
    if with_content:
        out.update(files=dict(d.files), forms=dict(d.forms))
    return out


class Studio:
    def __init__(self, engine):
        self.engine = engine
        self.db = engine.db

    # ---------------------------------------------------------------- drafts
    def _own(self, session, draft_id: str, viewer: Viewer, *, lock: bool = False) -> StudioDraft:
        query = select(StudioDraft).where(StudioDraft.id == draft_id)
        if lock and self.db.dialect == "postgresql":
            query = query.with_for_update()
        draft = session.scalars(query).first()
        if draft is None or (draft.owner != viewer.name and not viewer.admin):
            raise NotFound(f"no draft {draft_id}")        # someone else's draft is not even there
        return draft

    def list_drafts(self, viewer: Viewer, *, everyone: bool = False) -> list[dict]:
        with self.db.read_transaction() as s:
            query = select(StudioDraft).order_by(StudioDraft.updated_at.desc(), StudioDraft.id)
            if not (everyone and viewer.admin):
                query = query.where(StudioDraft.owner == viewer.name)
            return [draft_dict(d, with_content=False) for d in s.scalars(query.limit(500))]

    def create_draft(self, viewer: Viewer, *, title: str, source: str = "deployed",
                     files: dict | None = None, forms: dict | None = None,
                     process_keys: list[str] | None = None) -> dict:
        """A new draft of `viewer`: from the deployed versions (default), from the server's workflows/ folder,
        or from the files given (`source` "files")."""
        if not title.strip() or len(title) > content.MAX_TITLE:
            raise DraftContentError({"title": [f"1 to {content.MAX_TITLE} characters"]})
        with self.db.write_transaction() as s:
            based_on: dict = {}
            if source == "deployed":
                files, forms, based_on = content.from_deployed(s, process_keys)
                if not based_on:
                    raise NotFound("nothing is deployed" + (f" for {', '.join(process_keys)}" if process_keys else ""))
            elif source == "workflows":
                workflows = self.engine.settings.workflows_dir
                files, forms = content.from_folder(workflows, workflows.resolve().parent / "forms")
                _, _, based_on = content.from_deployed(s)
            elif source == "files":
                files, forms = files or {}, forms or {}
                _, _, based_on = content.from_deployed(s)
            else:
                raise DraftContentError({"source": ["one of deployed, workflows, files"]})
            size = content.check_content(files, forms)
            now = self.engine.clock.now()
            draft = StudioDraft(id=str(uuid.uuid4()), owner=viewer.name, title=title.strip(), source=source,
                                based_on=based_on, files=files, forms=forms, size_bytes=size, version=1,
                                created_at=now, updated_at=now)
            s.add(draft)
            s.flush()
            self.engine.ops.audit(s, None, "studio_draft_created", viewer.name, None, None,
                                  {"draft_id": draft.id, "title": draft.title, "source": source,
                                   "based_on": based_on})
            return draft_dict(draft)

    def get_draft(self, draft_id: str, viewer: Viewer) -> dict:
        with self.db.read_transaction() as s:
            return draft_dict(self._own(s, draft_id, viewer))

    def save_draft(self, draft_id: str, viewer: Viewer, *, expected_version: int | None,
                   files: dict | None = None, forms: dict | None = None, title: str | None = None) -> dict:
        """Replace the draft's files/forms/title (those given); `expected_version` (If-Match) must match."""
        if title is not None and (not title.strip() or len(title) > content.MAX_TITLE):
            raise DraftContentError({"title": [f"1 to {content.MAX_TITLE} characters"]})
        with self.db.write_transaction() as s:
            draft = self._own(s, draft_id, viewer, lock=True)
            new_files = draft.files if files is None else files
            new_forms = draft.forms if forms is None else forms
            size = content.check_content(new_files, new_forms)
            values = dict(files=new_files, forms=new_forms, size_bytes=size, title=(title or draft.title).strip(),
                          version=draft.version + 1, updated_at=self.engine.clock.now())
            query = update(StudioDraft).where(StudioDraft.id == draft_id, StudioDraft.version == (
                expected_version if expected_version is not None else draft.version))
            if s.execute(query.values(**values).execution_options(synchronize_session=False)).rowcount != 1:
                raise StaleVersion(f"draft {draft_id} is at version {draft.version}, not {expected_version}; "
                                   f"reload it and apply your change again")
            changed = sorted(k for k in set(new_files) | set(draft.files)
                             if new_files.get(k) != draft.files.get(k))
            changed += sorted(f"forms/{k}" for k in set(new_forms) | set(draft.forms)
                              if new_forms.get(k) != draft.forms.get(k))
            self.engine.ops.audit(s, None, "studio_draft_saved", viewer.name, None, None,
                                  {"draft_id": draft_id, "version": values["version"], "changed": changed[:100]})
            s.expire(draft)
            return draft_dict(s.get(StudioDraft, draft_id))

    def delete_draft(self, draft_id: str, viewer: Viewer, *, expected_version: int | None = None) -> None:
        with self.db.write_transaction() as s:
            draft = self._own(s, draft_id, viewer, lock=True)
            if expected_version is not None and draft.version != expected_version:
                raise StaleVersion(f"draft {draft_id} is at version {draft.version}, not {expected_version}")
            s.execute(delete(StudioDraft).where(StudioDraft.id == draft_id)
                      .execution_options(synchronize_session=False))
            self.engine.ops.audit(s, None, "studio_draft_deleted", viewer.name, None, None,
                                  {"draft_id": draft_id, "title": draft.title, "owner": draft.owner})

    # ---------------------------------------------------------------- diff, check, deploy
    def diff(self, draft_id: str, viewer: Viewer) -> dict:
        """The draft against the newest deployed version of each process (what a deploy would change)."""
        with self.db.read_transaction() as s:
            draft = self._own(s, draft_id, viewer)
            old_files, old_forms, deployed = content.from_deployed(s)
            files, forms = dict(draft.files), dict(draft.forms)
        result = diff_bundles(old_files, old_forms, files, forms)
        return {"draft_id": draft_id, "against": deployed, "based_on": draft.based_on,
                "stale": {k: v for k, v in deployed.items() if draft.based_on.get(k) not in (None, v)}, **result}

    def check(self, files: dict, forms: dict):
        """The draft's bundle validated as `recall validate` would (engine/bundle.py:check_files)."""
        content.check_content(files, forms)
        return check_files(files, forms=forms, http_allow=self.engine.settings.http_connector_allow)

    def deploy(self, draft_id: str, viewer: Viewer, *, note: str | None) -> list:
        """Deploy the draft with a change note (required): the checks must pass (BundleInvalid otherwise)."""
        return self.deploy_checked(draft_id, viewer, note=note)[0]

    def deploy_checked(self, draft_id: str, viewer: Viewer, *, note: str | None) -> tuple[list, list]:
        """`deploy`, and the bundle's warnings (shown, never blocking: what `recall validate` prints)."""
        if note is None or not str(note).strip():
            raise NoteRequired({"note": ["a change note is required: say what changes and why"]})
        if len(note) > MAX_NOTE:
            raise NoteRequired({"note": [f"at most {MAX_NOTE} characters"]})
        with self.db.read_transaction() as s:
            draft = self._own(s, draft_id, viewer)
            files, forms, seen = dict(draft.files), dict(draft.forms), draft.version
        bundle = self.check(files, forms)
        if not bundle.ok:
            raise BundleInvalid(bundle.diagnostics)
        with self.db.write_transaction() as s:
            draft = self._own(s, draft_id, viewer, lock=True)
            if draft.version != seen:
                raise StaleVersion(f"draft {draft_id} changed while it was checked; deploy again")
            results = self.engine.store_bundle(s, bundle, actor=viewer.name, note=note.strip())
            draft.deployed_at = self.engine.clock.now()
            draft.deployed_versions = {r.process_key: r.version for r in results}
            return results, list(bundle.warnings)

    # ---------------------------------------------------------------- moving running cases
    def migrate(self, plan: Plan, *, actor: str, dry_run: bool = True,
                instance_ids: list[str] | None = None) -> dict:
        """Dry run: each running case of `from_version` (or those named) movable or not, and why, with its
        timers before/after. Otherwise each chosen case moves in its own unit of work (re-checked there)."""
        mover = Mover(self.engine.runtime, plan, actor=actor)
        with self.db.read_transaction() as s:
            old_row, new_row = mover.definitions(s)
            problems = mover.mapping_problems(s, old_row, new_row)
            if problems:
                raise DraftContentError(problems)
            ids = mover.candidates(s, old_row, instance_ids)
            if len(ids) > MAX_CASES:
                raise DraftContentError({"instance_ids": [f"{len(ids)} cases: at most {MAX_CASES} per call; "
                                                          f"name them in instance_ids in batches"]})
            if dry_run:
                results = []
                for instance_id in ids:
                    assessment, _, _ = mover.assess(s, instance_id, old_row, new_row)
                    results.append(assessment)
        if not dry_run:
            results = []
            for instance_id in ids:
                def unit(instance_id=instance_id):
                    with self.db.write_transaction() as s:
                        return mover.move(s, instance_id, old_row, new_row)
                results.append(again_on_conflict(unit, pinned=False))
            started = self.engine.clock.now()
            with self.db.write_transaction() as s:
                s.add(StudioMigrationRun(
                    process_key=plan.process_key, from_version=plan.from_version, to_version=plan.to_version,
                    mapping=plan.mapping, timers=plan.timers, actor=actor, started_at=started,
                    finished_at=self.engine.clock.now(), moved=sum(r.outcome == "moved" for r in results),
                    refused=sum(r.outcome == "refused" for r in results),
                    results=[{"instance_id": r.instance_id, "outcome": r.outcome, "reasons": r.reasons}
                             for r in results]))
        items = [r.as_dict() for r in results]
        return {"process_key": plan.process_key, "from_version": plan.from_version, "to_version": plan.to_version,
                "timers": plan.timers, "mapping": plan.mapping, "dry_run": dry_run,
                "movable": sum(r.movable and r.outcome != "already_moved" for r in results),
                "refused": sum(not r.movable for r in results),
                "moved": sum(r.outcome == "moved" for r in results), "cases": items}

    def definition_versions(self, process_key: str) -> list[int]:
        with self.db.read_transaction() as s:
            return list(s.scalars(select(ProcessDefinition.version).where(
                ProcessDefinition.process_key == process_key).order_by(ProcessDefinition.version)))
