"""Issue 13, "prove it in combination": the model-based suite on a real `recall serve`.

One server per database for the whole module (its data is never reset: cases from earlier
examples are still there and must still satisfy every invariant); Hypothesis drives
recall_machine.RecallMachine against it. `ci` profile by default (bounded, derandomized),
`--hypothesis-profile soak` for many more examples (bench/soak.py runs it for N minutes).
"""
from __future__ import annotations

import pytest
from hypothesis.stateful import run_state_machine_as_test

from tests.model.model_support import VIOLATIONS, RecallServer, model_settings
from tests.model.recall_machine import machine_for
from tests.support import PG_AVAILABLE, PG_URL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def recall_server(request, tmp_path_factory):
    if request.param == "postgresql" and not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    with RecallServer(request.param, pg_url=PG_URL, log_dir=tmp_path_factory.mktemp(f"model-{request.param}")) as server:
        yield server
        assert server.alive(), f"recall serve died:\n{server.log_text()[-3000:]}"


def test_cases_stay_correct_in_combination(recall_server):
    VIOLATIONS.clear()
    try:
        run_state_machine_as_test(machine_for(recall_server), settings=model_settings())
    except Exception as exc:
        if VIOLATIONS:      # the first one, as found (the final replay may have failed differently)
            raise AssertionError(f"{VIOLATIONS[0]}\n\n({len(VIOLATIONS)} violation(s); then: {exc!r:.300})") from exc
        raise
    finally:
        stats = recall_server.stats
        print(f"\n[model] {recall_server.database}: examples={stats.examples} steps={stats.steps} "
              f"cases={len(stats.cases)} candidates={len(stats.candidates)} checks={stats.checks} "
              f"requests={stats.requests} ends={dict(sorted(stats.ends.items()))}")
    assert "Traceback" not in recall_server.log_text(), recall_server.log_text()[-5000:]
