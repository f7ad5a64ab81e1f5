"""lenet5: the reference toolkit for LeNet-5 handwritten-digit recognition.

    import lenet5
    predictor = lenet5.load()                    # the bundled model; or a run folder, .pt or .onnx
    predictor.predict(["digit.png"])[0].label    # 7, or None with .reason "blank" / "not a digit"

Modules: data, models, config, train, checkpoint, evaluate, viz, report, preprocess, predict,
export, server, ablate, cli. Importing the package loads none of them.
"""

__version__ = "0.1.0"


def load(model=None, **kwargs):
    """A Predictor for the bundled model, a run folder or an exported model; see lenet5.predict.load.
    It reads with torch unless asked otherwise (backend="auto" is what `lenet5 predict` uses: the bundled
    model through ONNX Runtime, with no torch import; only torch draws feature maps)."""
    from .predict import load as _load
    return _load(model, **kwargs)
