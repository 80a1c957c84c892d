"""hog-svm: batched HOG features and an intensity thumbnail, standardised, then the SVM."""

from __future__ import annotations

from featvslearn.pipelines.base import Pipeline, PipelineOutput, RunContext
from featvslearn.pipelines.svm_stages import run_classical


def run(context: RunContext) -> PipelineOutput:
    """HOG features, their standardisation and the SVM, all on the context's device (see run_classical)."""
    from featvslearn import classical

    settings = classical.hog_settings_for(context.split.train.image_shape)
    featuriser = classical.make_hog_features(settings, device=str(context.device))
    output, dimensions = run_classical(context, "hog-svm", featuriser, None, None, "HOG features",
                                       rbf_within_budget=True)
    output.details = {
        "features": "HOG at two cell sizes (batched in torch, equal to skimage) + intensity thumbnail, standardised",
        "hog": settings.as_dict(),
        "feature_dimensions": dimensions,
        **output.details,
    }
    return output


PIPELINE = Pipeline(
    name="hog-svm",
    summary="HOG features (two cell sizes) + intensity thumbnail, standardised, then an SVM",
    learned=False,
    run=run,
    options=("svm", "tune", "precision", "seed"),
)
