"""Hypothesis profiles of the model-based suite: `ci` (default here, bounded, reproducible) and `soak`.

    pytest tests/model                                  # ci: ~15 examples x 30 steps per database
    pytest tests/model --hypothesis-profile soak        # many more (bench/soak.py runs it for N minutes)
"""
from __future__ import annotations

from tests.model.model_support import register_profiles

register_profiles()
