"""benchmarks/airbench_peer.py: its dry run on the CPU, the files it writes for airbench, and the ratio it reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import airbench_peer as peer  # noqa: E402  (a benchmark script, imported from its folder)


def test_the_dry_run_trains_featvslearn_s_side_and_says_why_the_peer_did_not_run(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "benchmarks/airbench_peer.py", "--out", str(tmp_path), "--dry-run"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "airbench_peer.json").read_text())
    assert summary["dry_run"] and summary["device"] == "cpu" and summary["train_images"] == peer.DRY_TRAIN
    ours = summary["featvslearn"]
    assert ours["ran"] and ours["epochs"] == 1 and ours["seconds_per_epoch"] > 0 and ours["test_accuracy"] is None
    assert summary["airbench94"] == {"ran": False, "reason": "airbench94 runs on CUDA only (its network is built "
                                                             "with .half().cuda())"}
    assert summary["ratio"]["epoch_ratio"] is None
    assert "synthetic images: the timings hold, no accuracy is read from them" in result.stdout
    # the files airbench's CifarLoader reads, in its format, safe to load
    data = torch.load(tmp_path / "airbench-data" / "cifar10" / "train.pt", weights_only=True)
    assert data["images"].dtype == torch.uint8 and tuple(data["images"].shape) == (peer.DRY_TRAIN, 32, 32, 3)
    assert data["labels"].dtype == torch.int64 and len(data["classes"]) == 10


def test_the_ratio_is_featvslearn_s_epoch_over_airbench_s_and_meets_the_target_at_most_1_25() -> None:
    ours = {"seconds_per_epoch": 0.30}
    assert peer.compare_sides(ours, {"ran": True, "seconds_per_epoch": 0.25}) == {
        "epoch_ratio": 1.2, "target": 1.25, "met": True, "reason": None}
    assert peer.compare_sides(ours, {"ran": True, "seconds_per_epoch": 0.2})["met"] is False
    skipped = peer.compare_sides(ours, {"ran": False, "reason": "no GPU"})
    assert skipped["epoch_ratio"] is None and skipped["reason"] == "no GPU"
