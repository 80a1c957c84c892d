"""The airbench-peer step: featvslearn's cnn against airbench94 on the same device and the same 32×32 colour images."""

from __future__ import annotations

from gpucheck.check import Check, Step


def step_airbench_peer(check: Check, record: Step) -> None:
    """Seconds per epoch of featvslearn's cnn and of airbench94 on 50,000 images of 32×32×3 (CIFAR-10 when
    --data-dir holds it, else synthetic images for timing only), and their ratio (benchmarks/airbench_peer.py)."""
    import airbench_peer as peer
    import torch

    dry_run = check.plan.device == "cpu"
    device = torch.device(check.plan.device)
    split, real = peer.the_images(check.args.data_dir, dry_run)
    files = check.args.out / "airbench-data" / "cifar10"
    peer.write_airbench_files(split, files)
    check.log.say(f"  {len(split.train):,} {'CIFAR-10' if real else 'synthetic'} training images of 32×32×3")
    ours = peer.featvslearn_side(split, device, real, epochs=1 if dry_run else None)
    theirs = peer.airbench_side(files, device, len(split.train), real)
    ratio = peer.compare_sides(ours, theirs)
    record["details"].update({"data": "CIFAR-10" if real else "synthetic, for timing only", "featvslearn": ours,
                              "airbench94": theirs})
    if theirs.get("reason"):
        record["notes"].append(f"airbench94 skipped: {theirs['reason']}")
    for line in peer.lines({"data": record["details"]["data"], "train_images": len(split.train),
                            "device": str(device), "featvslearn": ours, "airbench94": theirs, "ratio": ratio}):
        check.log.say(f"  {line}")
    check.figure("cnn_epoch_over_airbench94", ratio["epoch_ratio"], "airbench-peer", note=ratio["reason"])
    check.figure("cnn_epoch_seconds_32x32x3", ours["seconds_per_epoch"], "airbench-peer", "s",
                 what="featvslearn's cnn, seconds per epoch of 50,000 images of 32×32×3 (median epoch)")
    check.figure("airbench94_epoch_seconds", theirs.get("seconds_per_epoch"), "airbench-peer", "s",
                 what="airbench94, seconds per epoch (its 9.9 epochs' training seconds / 9.9)",
                 note=theirs.get("reason"))
