"""hog-svm: batched HOG features and an intensity thumbnail (and on colour data a colour histogram),
standardised, then the SVM."""

from __future__ import annotations

from featvslearn.pipelines.base import Pipeline, PipelineOutput, RunContext
from featvslearn.pipelines.svm_stages import run_classical


def run(context: RunContext) -> PipelineOutput:
    """HOG features, their standardisation and the SVM, all on the context's device (see run_classical)."""
    from featvslearn import classical

    settings = classical.hog_settings_for(context.split.train.image_shape)
    # On colour data a colour histogram joins the features; grey data keeps HOG + thumbnail alone.
    colour = None
    if classical.has_colour(context.split.train.images):
        colour = classical.standard_colour_histogram("hog-svm")
    featuriser = classical.make_hog_features(settings, device=str(context.device), colour=colour)
    output, dimensions = run_classical(context, "hog-svm", featuriser, None, None, "HOG features",
                                       rbf_within_budget=True)
    output.details = {
        "input": classical.input_words(context.split.train.images),
        "features": ("HOG at two cell sizes (batched in torch, equal to skimage) + intensity thumbnail, standardised"
                     if colour is None else
                     "HOG at two cell sizes (batched in torch, equal to skimage; the strongest channel's gradient) "
                     f"+ RGB thumbnail + {colour.describe()}, standardised"),
        "hog": settings.as_dict(),
        "feature_dimensions": dimensions,
        **output.details,
    }
    return output


PIPELINE = Pipeline(
    name="hog-svm",
    summary="HOG features (two cell sizes) + intensity thumbnail (+ a colour histogram on colour data), "
            "standardised, then an SVM",
    learned=False,
    run=run,
    options=("svm", "tune", "precision", "seed"),
)
