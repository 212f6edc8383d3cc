"""Process definition versions: deploy a validated bundle, load specs once per version."""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .errors import BundleInvalid, NotFound
from .forms import start_schema_name
from .models import ProcessDefinition
from .serialization import SERIALIZER_VERSION, StateSerializer
from .vocabulary import Vocabulary, from_json as vocabulary_from_json
from .views import DefinitionDetail, DefinitionView

FORM_PROPERTIES = ("formJsonSchemaFilename", "formUiSchemaFilename")


@dataclass(frozen=True)
class DeployedProcess:
    process_key: str
    version: int
    definition_id: int
    created: bool          # False when the content was unchanged (deploy is a no-op)
    content_hash: str


class FormStore(Mapping):
    """A version's forms, shared by every caller in the process: each lookup is a fresh copy.

    Callers (API views, prefill, validation) may change the schema they are given; a cached
    dict handed out as is would carry one caller's change to every later task of the version."""

    def __init__(self, forms_json: str):
        self._texts = {name: json.dumps(form, sort_keys=True, ensure_ascii=False)
                       for name, form in json.loads(forms_json).items()}

    def __getitem__(self, name: str) -> dict:
        return json.loads(self._texts[name])

    def __iter__(self):
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


@dataclass(frozen=True)
class LoadedDefinition:
    """One cached definition version, shared by every instance of it in the process: nothing in
    it may be changed by a run (specs: see serialization.IsolatedStartTask; forms and
    templates are read-only)."""

    id: int
    process_key: str
    version: int
    spec: object
    subprocess_specs: Mapping
    forms: FormStore
    templates: Mapping[str, str]
    vocabulary: Vocabulary          # workflows/vocabulary.json of the version (EMPTY without one)


def _referenced_forms(specs) -> set[str]:
    names = set()
    for spec in specs:
        for task_spec in spec.task_specs.values():
            props = (getattr(task_spec, "extensions", None) or {}).get("properties", {})
            names.update(props[p] for p in FORM_PROPERTIES if props.get(p))
    return names


def deploy_bundle(session: Session, bundle, serializer: StateSerializer, *, actor: str,
                  now: datetime, note: str | None = None) -> list[DeployedProcess]:
    """Store a new version of every process whose content changed. Raises BundleInvalid."""
    if not bundle.ok:
        raise BundleInvalid(bundle.diagnostics)
    files_json = json.dumps({k: v.decode("utf-8") for k, v in sorted(bundle.files.items())},
                            ensure_ascii=False)
    results = []
    for key in bundle.process_ids:
        spec = bundle.parser.get_spec(key)
        subprocess_specs = bundle.parser.get_subprocess_specs(key)
        spec_json = serializer.dump_specs(spec, subprocess_specs)
        forms = {name: bundle.forms[name]
                 for name in sorted(_referenced_forms([spec, *subprocess_specs.values()]) | {start_schema_name(key)})
                 if name in bundle.forms}
        forms_json = json.dumps(forms, sort_keys=True, ensure_ascii=False)
        templates_json = json.dumps(bundle.templates, sort_keys=True, ensure_ascii=False)
        # messages.json (what messages may carry, whether they wait) is part of the version too
        messages = [v.decode("utf-8") for k, v in sorted(bundle.files.items()) if k.split("/")[-1] == "messages.json"]
        # so is the vocabulary: a relabelled reason or a new stage is a new version
        vocabulary_json = bundle.vocabulary.to_json() if bundle.vocabulary is not None else None
        digest = hashlib.sha256("\n".join((spec_json, forms_json, templates_json, *messages,
                                           *([vocabulary_json] if vocabulary_json else []))).encode()).hexdigest()
        latest = session.scalars(
            select(ProcessDefinition).where(ProcessDefinition.process_key == key)
            .order_by(ProcessDefinition.version.desc()).limit(1)
        ).first()
        if latest is not None and latest.content_hash == digest:
            results.append(DeployedProcess(key, latest.version, latest.id, False, digest))
            continue
        row = ProcessDefinition(
            process_key=key, version=(latest.version + 1) if latest else 1, content_hash=digest,
            spec_json=spec_json, forms_json=forms_json, templates_json=templates_json, files_json=files_json,
            vocabulary_json=vocabulary_json,
            serializer_version=SERIALIZER_VERSION, deployed_at=now, deployed_by=actor, note=note,
        )
        session.add(row)
        session.flush()
        results.append(DeployedProcess(key, row.version, row.id, True, digest))
    return results


def latest_definition_id(session: Session, process_key: str, version: int | None = None) -> int:
    query = select(ProcessDefinition.id).where(ProcessDefinition.process_key == process_key)
    if version is not None:
        query = query.where(ProcessDefinition.version == version)
    else:
        query = query.where(ProcessDefinition.version == (
            select(func.max(ProcessDefinition.version))
            .where(ProcessDefinition.process_key == process_key).scalar_subquery()))
    found = session.scalar(query)
    if found is None:
        what = f"{process_key} version {version}" if version is not None else process_key
        raise NotFound(f"no deployed process definition {what}")
    return found


DEFINITION_COLUMNS = (ProcessDefinition.id, ProcessDefinition.process_key, ProcessDefinition.version,
                      ProcessDefinition.content_hash, ProcessDefinition.deployed_at, ProcessDefinition.deployed_by,
                      ProcessDefinition.note)


def definition_versions(session: Session, *, process_key: str | None = None, latest_only: bool = False,
                        limit: int | None = 50, offset: int = 0) -> list[DefinitionView]:
    """Deployed versions by process key, newest first; `latest_only`: each process's newest version alone
    (so a page counts processes). Only the summary columns: specs and files stay in the database."""
    query = select(*DEFINITION_COLUMNS)
    if process_key:
        query = query.where(ProcessDefinition.process_key == process_key)
    if latest_only:
        newest = (select(ProcessDefinition.process_key, func.max(ProcessDefinition.version).label("version"))
                  .group_by(ProcessDefinition.process_key).subquery())
        query = query.join(newest, (ProcessDefinition.process_key == newest.c.process_key)
                           & (ProcessDefinition.version == newest.c.version))
    query = query.order_by(ProcessDefinition.process_key, ProcessDefinition.version.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [DefinitionView(*row) for row in session.execute(query)]


def definition_version(session: Session, process_key: str, version: int | None = None) -> DefinitionView:
    """One version (default: the newest) of a process; NotFound names it."""
    definition_id = latest_definition_id(session, process_key, version)
    return DefinitionView(*session.execute(select(*DEFINITION_COLUMNS)
                                           .where(ProcessDefinition.id == definition_id)).one())


def definition_detail(session: Session, process_key: str) -> DefinitionDetail:
    """Every version of a process and the newest's file names. Two statements need no shared snapshot:
    a stored version never changes, and a version deployed between them is simply not listed."""
    versions = definition_versions(session, process_key=process_key, limit=None)
    if not versions:
        raise NotFound(f"no deployed process definition {process_key}")
    files_json, forms_json = session.execute(select(ProcessDefinition.files_json, ProcessDefinition.forms_json)
                                             .where(ProcessDefinition.id == versions[0].id)).one()
    return DefinitionDetail(versions, sorted(json.loads(files_json)), sorted(json.loads(forms_json)))


class SpecCache:
    """Parsed specs per definition version, bounded LRU; specs are immutable once deployed."""

    def __init__(self, serializer: StateSerializer, size: int = 64):
        self._serializer = serializer
        self._size = size
        self._items: OrderedDict[int, LoadedDefinition] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, definition_id: int) -> LoadedDefinition:
        with self._lock:
            hit = self._items.get(definition_id)
            if hit is not None:
                self._items.move_to_end(definition_id)
                return hit
        row = session.get(ProcessDefinition, definition_id)
        if row is None:
            raise NotFound(f"no process definition with id {definition_id}")
        spec, subprocess_specs = self._serializer.load_specs(row.spec_json)
        loaded = LoadedDefinition(row.id, row.process_key, row.version, spec, MappingProxyType(subprocess_specs),
                                  FormStore(row.forms_json), MappingProxyType(json.loads(row.templates_json)),
                                  vocabulary_from_json(row.vocabulary_json))
        with self._lock:
            self._items[definition_id] = loaded
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return loaded

    def __len__(self) -> int:
        return len(self._items)
