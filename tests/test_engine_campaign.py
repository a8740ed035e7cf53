"""The campaign loop's process-wide settings: set for the loop only."""

from __future__ import annotations

import gc
from pathlib import Path
from types import SimpleNamespace

from fuzzer.engine.campaign import LOOP_GC_THRESHOLD, Budget, Campaign, CampaignConfig


def test_the_loop_runs_with_fewer_collections_and_restores_the_thresholds(
        tmp_path: Path, monkeypatch) -> None:
    config = CampaignConfig.from_dict({"name": "gc"}, "gc.yaml")
    target = SimpleNamespace(capabilities=frozenset())
    campaign = Campaign(config, target, {}, [], {}, [], set(), tmp_path, 1, Budget(None, 3))
    seen = []

    def iterate() -> None:
        seen.append(gc.get_threshold())
        campaign.stats.steps += 1

    monkeypatch.setattr(campaign, "iterate", iterate)
    before = gc.get_threshold()
    campaign.run()
    assert seen == [LOOP_GC_THRESHOLD] * 3
    assert gc.get_threshold() == before
