"""The talent archive: candidates' personal data, declines, signals and consent; search,
recall analytics and privacy (consent, retention, erasure).

    archive = TalentArchive(engine)                  # engine: a RecallEngine
    candidate = archive.create_candidate({...}, actor="hr.li")
    archive.record_decline(candidate.id, {...}, actor="ats")   # starts offer_recall
    archive.search(SearchFilters(q="弹性"), limit=50)
    archive.erase(candidate.id, actor="hr.li")

Every public method of `TalentArchive` is one unit of work, like `RecallEngine`'s.
"""
from __future__ import annotations

__all__ = ["TalentArchive", "SearchFilters", "Viewer", "PrivacySettings"]


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
