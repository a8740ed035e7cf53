"""The campaign loop's process-wide settings: set for the loop only."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from types import SimpleNamespace

from fuzzer.engine.campaign import LOOP_GC_THRESHOLD, Budget, Campaign, CampaignConfig
from fuzzer.engine.feedback import Coverage


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


def test_the_state_file_is_the_plain_json_of_the_stats_and_sorted_transitions(
        tmp_path: Path) -> None:
    config = CampaignConfig.from_dict({"name": "state"}, "state.yaml")
    target = SimpleNamespace(capabilities=frozenset())
    campaign = Campaign(config, target, {}, [], {}, [], set(), tmp_path, 7, Budget(None, 3),
                        worker=2)

    def expected() -> str:
        return json.dumps({
            "stats": campaign.stats.to_dict(), "seed": 7, "worker": 2, "strategy": "model",
            "transitions": sorted(campaign.coverage.seen)}, sort_keys=True)

    campaign.save_state()
    assert campaign.state_file.read_text() == expected()
    rounds = [{("up|app|-|-", "smp:Pairing Request", 'smp:"q"\\')},
              {("down|?|-|-", "connect", "silence"), ("up|app|-|-", "smp:Pairing Request",
                                                     'smp:"q"\\')},
              set(), {("enc|app|é|b", "att:Read Request", "att:Read Response"),
                      ("a", "b", "c"), ("z", "y", "x")}]
    for found in rounds:
        campaign.coverage.add(found)
        campaign.stats.steps += 3
        campaign.save_state()
        assert campaign.state_file.read_text() == expected()
    # a resumed campaign replaces the set
    campaign.coverage.seen = {("b", "c", "d"), ("a", "a", "a")}
    campaign.save_state()
    assert campaign.state_file.read_text() == expected()
    campaign.coverage.add({("a", "b", "b")})
    campaign.save_state()
    assert campaign.state_file.read_text() == expected()
    assert json.loads(campaign.state_file.read_text())["transitions"] == [
        ["a", "a", "a"], ["a", "b", "b"], ["b", "c", "d"]]


def test_coverage_add_counts_the_new_transitions() -> None:
    coverage = Coverage()
    assert coverage.add({("a", "b", "c"), ("d", "e", "f")}) == 2
    assert coverage.add({("a", "b", "c"), ("g", "h", "i")}) == 1
    assert coverage.add(set()) == 0
    assert len(coverage) == 3
