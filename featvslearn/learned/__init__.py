"""The learned side: the CNN (:mod:`.models`: configuration and module only) and its trainer
(:mod:`.train`: data on the device, augmentation, mixed precision, the one-cycle loop, prediction);
:mod:`.variants` names the variants ``ablate`` trains (plain Python).

Names below are imported on first use, so ``import featvslearn.learned`` loads no torch.
"""

from featvslearn.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "CNNConfig": "models", "ACTIVATIONS": "models", "INITS": "models", "POOLINGS": "models", "lenet_config": "models",
    "cnn_config_for": "models", "CNN": "models", "parameter_count": "models", "flops_per_image": "models",
    "TrainSettings": "train", "Preset": "train", "PRESETS": "train", "default_epochs": "train",
    "train_settings_for": "train", "images_to_device": "train", "Normaliser": "train", "augment": "train",
    "whitening_filters": "train", "whiten_first_layer": "train", "warm_up": "train", "TrainLog": "train",
    "train_cnn": "train", "predict": "train",
}
"""Each public name and the submodule that defines it; reading one imports that submodule."""

__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
__all__ = sorted(EXPORTS)
