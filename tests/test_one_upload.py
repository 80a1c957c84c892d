"""A run puts each array of its split on the device once; every pipeline reads the images from there."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig
from featvslearn.pipelines import base

EVERY_PIPELINE = ("hog-svm", "sift-svm", "sift-fv", "cnn", "learned-svm")


def _count_uploads(monkeypatch) -> Counter:
    """How often each array (by its number of images) goes through the one upload function."""
    uploads: Counter = Counter()
    real = base.upload

    def counted(images, device):
        uploads[len(images)] += 1
        return real(images, device)

    monkeypatch.setattr(base, "upload", counted)
    return uploads


@pytest.mark.parametrize("device", [
    "cpu", pytest.param("cuda", marks=[pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(),
                                                                             reason="needs a CUDA GPU")])])
def test_a_comparison_of_every_pipeline_uploads_the_training_images_once(monkeypatch, device: str) -> None:
    uploads = _count_uploads(monkeypatch)
    config = CompareConfig(dataset="digits", device=device, pipelines=EVERY_PIPELINE, train_size=700, test_size=300,
                           epochs=2, seed=0).validated()
    results = run_comparison(config)
    assert [p.name for p in results.pipelines] == list(EVERY_PIPELINE)
    assert uploads[700] == 1 and uploads[300] == 1  # the training and the test images, once each for five pipelines
