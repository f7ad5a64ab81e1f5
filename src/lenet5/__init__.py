"""lenet5: the reference toolkit for LeNet-5 handwritten-digit recognition.

    import lenet5
    predictor = lenet5.load("runs/classic-mnist-s0")
    predictor.predict(["digit.png"])

Modules: data, models, config, train, checkpoint, evaluate, viz, report, preprocess, predict,
export, server, ablate, cli. Importing the package loads none of them.
"""

__version__ = "0.1.0"


def load(run_dir, **kwargs):
    """A Predictor for a run folder or exported model; see lenet5.predict.load."""
    from .predict import load as _load
    return _load(run_dir, **kwargs)
