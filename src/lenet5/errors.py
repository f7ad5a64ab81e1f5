"""The error types the CLI and the server turn into messages, never tracebacks.

    raise UserError("no such run folder: runs/x (train one with `lenet5 train --out runs/x`)")
"""


class UserError(Exception):
    """A mistake the user can fix (bad flag, missing or corrupt file, bad image).

    The CLI prints it as one line and exits 2; the server answers 4xx.
    """


class DataError(UserError):
    """Data files are missing, corrupt or cannot be downloaded."""


class TrainingDiverged(Exception):
    """The loss became NaN or infinite; the CLI exits 1 with the message."""


def raise_interrupt_inside(e: BaseException) -> None:
    """Raise the Ctrl-C or SIGTERM that native code turned into an ordinary exception, kept as its
    cause or context (ONNX Runtime's pybind11 import: "ImportError: initialization failed"), if `e`
    holds one. A stop caught as a failure was lost: `predict` fell back to torch and answered, or hung."""
    seen = set()
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            raise e from None
        seen.add(id(e))
        e = e.__cause__ or e.__context__


def install_hint(extra: str) -> str:
    """How to add an optional part: lenet5 is installed from its folder (README), not from an index."""
    return f"pip install '.[{extra}]' in the lenet5 folder"


def run_script(main) -> None:
    """End a script (`python benchmarks/bench_….py`) as the CLI ends a command: a UserError (a data folder
    without MNIST, a model that is not there) is one line and exit 2, not a traceback."""
    import sys
    from pathlib import Path
    try:
        code = main()
    except UserError as e:
        print(f"{Path(sys.argv[0]).name}: error: {e}", file=sys.stderr)
        code = 2
    raise SystemExit(code)
