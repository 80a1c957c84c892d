"""The hog-speed step: batched HOG on the device against a loop of ``skimage.feature.hog``, speed and difference."""

from __future__ import annotations

import time
from typing import Any

from gpucheck.check import Check, Step
from gpucheck.plan import HOG_PARAMS


def step_hog_speed(check: Check, record: Step) -> None:
    """Batched HOG images/s on the device (host arrays in and out, and again on the device) against a skimage loop
    on a sample (extrapolated), and the largest difference between their descriptors."""
    import numpy as np
    from skimage.feature import hog as skimage_hog

    from featvslearn.classical.hog import hog

    split = check.load()
    images = np.concatenate([split.train.images, split.test.images])[..., 0]  # (N, H, W) uint8 grey
    if check.plan.hog_images is not None:
        images = images[: check.plan.hog_images]
    device = check.plan.device
    hog(images[:256], device=device, **HOG_PARAMS)  # warm-up: CUDA context, kernels, allocator
    seconds = []
    for _ in range(3):
        check.check_time()
        started = time.perf_counter()
        features = hog(images, device=device, **HOG_PARAMS)  # (N, D) float32 on the host: every transfer counted
        seconds.append(time.perf_counter() - started)
    batched_s = sorted(seconds)[1]
    resident_s = hog_on_device_seconds(images, device)
    sample = images[: check.plan.hog_loop_images]
    started = time.perf_counter()
    reference = np.stack([skimage_hog(image, feature_vector=True, **HOG_PARAMS) for image in sample])  # (n, D)
    loop_s = time.perf_counter() - started
    per_image_s = loop_s / len(sample)
    diff = np.abs(features[: len(sample)].astype(np.float64) - reference)
    rate = len(images) / batched_s
    record["details"] = {
        "images": len(images), "image_shape": list(images.shape[1:]), "params": HOG_PARAMS, "device": device,
        "batched_seconds": seconds, "batched_images_per_second": rate,
        "on_device_seconds": resident_s, "on_device_images_per_second": len(images) / resident_s,
        "skimage_loop_sample": len(sample), "skimage_loop_sample_seconds": loop_s,
        "skimage_loop_images_per_second": 1.0 / per_image_s,
        "skimage_loop_seconds_extrapolated": per_image_s * len(images),
        "speed_up": per_image_s * len(images) / batched_s,
        "max_abs_difference": float(diff.max()), "mean_abs_difference": float(diff.mean()),
        "features_per_image": int(reference.shape[1]),
    }
    check.log.say(f"   batched HOG on {device}: {rate:,.0f} images/s ({len(images):,} images, median of 3: "
                  f"{batched_s:.3f} s); skimage loop {1.0 / per_image_s:,.0f} images/s (on {len(sample)}, "
                  f"extrapolated {per_image_s * len(images):.1f} s): {record['details']['speed_up']:.1f}x; "
                  f"max abs difference {diff.max():.3g}")
    check.log.say(f"   with the images already on {device} and the features left there (as the pipelines run it): "
                  f"{len(images) / resident_s:,.0f} images/s (median of 3: {resident_s:.3f} s)")
    check.figure("hog_images_per_second", rate, "hog-speed")
    check.figure("hog_images_per_second_on_device", len(images) / resident_s, "hog-speed", "images/s",
                 "batched HOG with uint8 images already on the device and the features left there (median of 3)")
    check.figure("hog_max_abs_difference", float(diff.max()), "hog-speed")
    check.figure("hog_speed_up_over_skimage", record["details"]["speed_up"], "hog-speed", "x",
                 "batched HOG on the device against the skimage loop on the CPU (extrapolated)")


def hog_on_device_seconds(images: Any, device: str) -> float:
    """Median of 3 timings of batched HOG of ``images`` ((N, H, W) uint8) already on ``device``, the features left
    there, synchronised."""
    import torch

    from featvslearn.classical.hog import hog_tensor
    from featvslearn.device import synchronize

    on_device = torch.from_numpy(images).to(device)  # (N, H, W) uint8
    hog_tensor(on_device[:256], device=device, **HOG_PARAMS)  # warm-up
    seconds = []
    for _ in range(3):
        synchronize(device)
        started = time.perf_counter()
        hog_tensor(on_device, device=device, **HOG_PARAMS)  # (N, D) float32 on the device
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    return sorted(seconds)[1]
