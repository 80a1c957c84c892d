"""learned-svm: the CNN's penultimate features -> the same standardisation and SVM as hog-svm."""

from __future__ import annotations

from featvslearn.measure.contention import PREDICT, TRAIN
from featvslearn.pipelines.base import Pipeline, PipelineOutput, RunContext
from featvslearn.pipelines.cnn import TrainedCNN, train_default_network
from featvslearn.pipelines.svm_stages import fit_svm_stages


def run(context: RunContext) -> PipelineOutput:
    """Fit the SVM on the features of the CNN in ``context.products["cnn"]``, or of one trained here.

    A network trained here counts as this pipeline's training; a reused one does not.
    """
    from featvslearn import classical
    from featvslearn.learned import train

    train_set, test_set = context.split.train, context.split.test
    monitor, device = context.monitor, context.device
    trained: TrainedCNN | None = context.products.get("cnn")
    reused = trained is not None
    if trained is None:
        trained = train_default_network(context)
    net, normaliser, dtype = trained.eval_model, trained.normaliser, trained.settings.autocast_dtype
    with monitor.stage("features (train)", device, role=TRAIN):
        x_train = train.predict(net, train.images_to_device(train_set.images, device), normaliser, dtype,
                                features=True)  # (N, D) on device
    with monitor.stage("standardise", device, role=TRAIN):
        standardiser = classical.Standardiser(copy=False)
        x_train = standardiser.fit_transform(x_train)
    classifier, svm_details, svm_device = fit_svm_stages(context, "learned-svm", x_train, train_set.labels)
    with monitor.stage("features (test)", device, role=PREDICT):
        x_test = train.predict(net, train.images_to_device(test_set.images, device), normaliser, dtype,
                               features=True)  # (N, D) on device
    with monitor.stage("predict", svm_device, role=PREDICT):
        predictions = classical.predict_classifier(classifier, standardiser.transform(x_test))
    details = {
        "features": f"penultimate layer of the cnn ({x_test.shape[1]} values per image), standardised",
        "cnn": ("reuses the cnn trained in this run" + f" ({trained.train_seconds:.1f} s of training, not counted "
                "here)") if reused else "trains its own cnn (counted in train seconds)",
        **svm_details,
        "same_svm_as": "hog-svm (same --svm settings)",
    }
    return PipelineOutput(predictions=predictions, details=details)


PIPELINE = Pipeline(
    name="learned-svm",
    summary="the same SVM as hog-svm on the CNN's penultimate features (reuses this run's cnn)",
    learned=True,
    run=run,
    needs=("cnn",),
    options=("svm", "tune", "precision", "epochs", "preset", "compile", "seed"),
)
