"""learned-svm: the CNN's penultimate features -> the same standardisation and SVM as hog-svm.

The SVM is hog-svm's, exactly: when hog-svm runs in the same run (it then runs first), the SVM it
chose is handed over (kind, C, gamma scale, landmarks, iterations; the precision follows from the
same device and ``--precision``); otherwise learned-svm chooses by hog-svm's rule with the same
options and budget. With the classifier held fixed, the gap between the two is the gap between
the representations.
"""

from __future__ import annotations

from featvslearn.measure.contention import PREDICT, TRAIN
from featvslearn.pipelines.base import Pipeline, PipelineOutput, RunContext
from featvslearn.pipelines.cnn import TrainedCNN, train_default_network
from featvslearn.pipelines.svm_stages import HANDED_OVER, FittedSVMPipeline, fit_svm_stages


def run(context: RunContext) -> PipelineOutput:
    """Fit the SVM on the features of the CNN in ``context.products["cnn"]``, or of one trained here.

    A network trained here counts as this pipeline's training; a reused one does not. The network,
    standardiser and SVM are left in ``context.products["learned-svm"]``.
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
        x_train = train.predict(net, context.on_device(train_set.images).permute(0, 3, 1, 2), normaliser, dtype,
                                features=True)  # (N, D) on device
    with monitor.stage("standardise", device, role=TRAIN):
        standardiser = classical.Standardiser(copy=False)
        x_train = standardiser.fit_transform(x_train)
    handed_over = context.products.get(HANDED_OVER)
    classifier, svm_details, svm_device = fit_svm_stages(context, "learned-svm", x_train, train_set.labels,
                                                         rbf_within_budget=True, handed_over=handed_over)
    with monitor.stage("features (test)", device, role=PREDICT):
        x_test = train.predict(net, context.on_device(test_set.images).permute(0, 3, 1, 2), normaliser, dtype,
                               features=True)  # (N, D) on device
    with monitor.stage("predict", svm_device, role=PREDICT):
        predictions = classical.predict_classifier(classifier, standardiser.transform(x_test))
    context.products["learned-svm"] = FittedSVMPipeline(trained, standardiser, classifier)
    details = {
        "input": classical.input_words(train_set.images),
        "features": f"penultimate layer of the cnn ({x_test.shape[1]} values per image), standardised",
        "cnn": ("reuses the cnn trained in this run" + f" ({trained.train_seconds:.1f} s of training, not counted "
                "here)") if reused else "trains its own cnn (counted in train seconds)",
        **svm_details,
        "same_svm_as": ("hog-svm: the SVM it chose in this run" if handed_over is not None else
                        "hog-svm's rule (hog-svm not in this run): the SVM it would choose with these options"),
    }
    return PipelineOutput(predictions=predictions, details=details)


PIPELINE = Pipeline(
    name="learned-svm",
    summary="the same SVM as hog-svm on the CNN's penultimate features (reuses this run's cnn)",
    learned=True,
    run=run,
    needs=("cnn", "hog-svm"),
    options=("svm", "tune", "precision", "epochs", "preset", "compile", "seed"),
)
