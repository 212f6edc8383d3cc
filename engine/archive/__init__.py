"""The talent archive: candidates' personal data, declines, signals and consent; search,
recall analytics and privacy (consent, retention, erasure).

    archive = TalentArchive(engine)                  # engine: a RecallEngine
    candidate = archive.create_candidate({...}, actor="hr.li")
    archive.record_decline(candidate.id, {...}, actor="ats")   # starts offer_recall
    archive.search(SearchFilters(q="弹性"), limit=50)
    archive.erase(candidate.id, actor="hr.li")

Every public method of `TalentArchive` is one unit of work, like `RecallEngine`'s.
An engine that runs the archive's processes has it installed (`install(engine)`, done by
whoever makes the engine: the API's `init_app`, the command line, the test fixtures).
"""
from __future__ import annotations

from functools import partial

__all__ = ["TalentArchive", "SearchFilters", "Viewer", "PrivacySettings", "install"]


def install(engine) -> None:
    """Plug the archive into `engine` (once; again is harmless): a completed consent or decline task
    updates the candidate's record, and message routing finds a candidate's cases the thorough way
    (start variables, past messages) before answering that none exists. The engine core knows
    nothing of the archive otherwise. Suggested messages get their role facts from `case_role`."""
    from .case_role import case_role
    from .cases import instance_ids
    from .consent import record_task_answer
    from ..channels.archive_hooks import record_sends
    from .records import record_decline_answer

    ops = engine.ops
    for hook in (record_task_answer, record_decline_answer, record_sends):
        if hook not in ops.completion_hooks:
            ops.completion_hooks.append(hook)
    ops.cases_of_candidate = partial(instance_ids, thorough=True)
    engine.runtime.role_source = partial(case_role, max_age_days=engine.settings.role_fact_max_age_days)


def __getattr__(name):
    # Lazy: a caller of one archive module (the migrations' schema_objects, say) does not load the
    # facade and, through it, the whole engine.
    if name == "TalentArchive":
        from .facade import TalentArchive
        return TalentArchive
    if name == "SearchFilters":
        from .search import SearchFilters
        return SearchFilters
    if name == "Viewer":
        from .access import Viewer
        return Viewer
    if name == "PrivacySettings":
        from .privacy import PrivacySettings
        return PrivacySettings
    raise AttributeError(name)
