"""Pages a candidate opens through a signed link, without an account (issue 18): the growth page of a role
(engine/candidate_pages/growth.py) and the new hire's goals page (goals.py).

A layer above the talent archive, like engine.channels: it reads candidates and records signals and replies
through it. The archive reaches back into one module of this package, `archive_hooks` (tables only), for
erasure, merge and consent withdrawal (tests/unit/test_import_graph.py). Nothing is registered by importing
the package: a page module registers itself with `links.register_page` when imported (api/public_pages.py).
"""
