"""`lenet5 ...` / `python -m lenet5 ...`: argument parsing and exit codes only.

Each subcommand calls one library function; the choices it offers (presets, data sets, devices,
variants) are the library's own lists. Exit codes: 0 ok, 1 failure (a diverged run, some
predictions failed, a full disk), 2 the user's mistake (bad flag, missing, corrupt or unwritable
path), 130 interrupted by Ctrl-C (SIGINT), 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import json
import os
import shlex
import signal
import sys
import threading
import textwrap
import warnings
from contextlib import suppress
from pathlib import Path

from .errors import TrainingDiverged, UserError, install_hint
from .files import check_output_folder, written_path
from .i18n import LANGS
from .run import RunFolder

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143  # 128 + SIGINT, SIGTERM


class _Help(argparse.HelpFormatter):
    def _split_lines(self, text: str, width: int) -> list[str]:  # keep names like modern-no-relu whole
        return textwrap.wrap(text, width, break_on_hyphens=False)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        # The whole command line, for every parser's error(): to name the command's help and the flag at fault
        _Parser.given = list(sys.argv[1:] if args is None else map(str, args))
        return super().parse_args(args, namespace)

    def error(self, message: str):  # argparse prints usage and exits; we want one line
        given = getattr(self, "given", [])
        command = next((a for a in given if a in COMMANDS), None)
        # An unknown flag is found by the top parser: the help to see is still the command's own.
        where = f"lenet5 {command}" if self.prog == "lenet5" and command else self.prog
        if self.prog == "lenet5":
            message = self._top_message(message, given, command)
        elif "required" in message and command:  # argparse names what is missing, not the unknown flag that took its place
            unknown = [a for a in given[given.index(command) + 1:] if a.startswith("-") and not _is_number(a)
                       and a.split("=")[0] not in self._option_string_actions]
            message = f"unrecognized option {unknown[0]} (and {message})" if unknown else message
        raise UserError(f"{message} (see `{where} --help`)")

    def _top_message(self, message: str, given: list[str], command: str | None) -> str:
        """argparse's words for a flag before the command: 'required: command', or 'unrecognized arguments'."""
        flag = next((a for a in given[:given.index(command) if command else None] if a.startswith("-")), None)
        if not command and "required: command" in message:
            said = f"unrecognized option {flag}; options come after the command" if flag else "no command given"
            return f"{said}; choose one of: {', '.join(COMMANDS)}"
        if command and flag and "unrecognized arguments" in message:
            sub = next(a for a in self._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
            if flag.split("=")[0] in sub._option_string_actions:
                return f"{flag} goes after the command: `lenet5 {command} … {flag}`"
            return f"unrecognized option {flag}; options come after the command, and `lenet5 {command}` has no {flag}"
        return message


def _is_number(s: str) -> bool:  # "-1.5" is a value, not a flag
    try:
        float(s)
        return True
    except ValueError:
        return False


def path_arg(s: str) -> str:
    """A folder or file argument: "" would be read as the current folder, which no one means."""
    if not s:
        raise argparse.ArgumentTypeError("an empty path was given; name a folder or a file")
    return s


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _data_args(p: argparse.ArgumentParser, dataset: bool = True) -> None:
    from .data import DATASETS
    if dataset:
        p.add_argument("--dataset", choices=list(DATASETS), default=None, help="default mnist (train: the preset's)")
    p.add_argument("--data-dir", default=None, type=path_arg, help="folder with the IDX files (default $LENET5_DATA_DIR or ./data)")


def _study_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--storage", metavar="URL", help="postgresql://... to share the study between machines "
                   "(default: a file in --out, shared by processes on this machine)")
    p.add_argument("--study", help="the study's name in the storage (default: --out's folder name)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    from .config import DEVICES, PRESETS  # neither imports torch: `lenet5 predict` starts its workers first
    from .variants import VARIANTS
    p = _Parser(prog="lenet5", description="LeNet-5 on MNIST: reproduce, inspect, predict, serve.")
    p.add_argument("--version", action="version", version=f"lenet5 {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, about: str) -> argparse.ArgumentParser:  # `lenet5 NAME --help` says it too
        return sub.add_parser(name, help=about, description=about[0].upper() + about[1:] + ".")

    t = command("train", "train a model into a run folder")
    t.add_argument("--preset", default="classic", choices=list(PRESETS),
                   help="classic is the report's; lecun1998 is LeNet-5 as the 1998 paper published it")
    t.add_argument("--config", metavar="FILE", type=path_arg,
                   help="a preset file instead of --preset (e.g. best.json from `lenet5 tune`)")
    _data_args(t)
    t.add_argument("--epochs", type=positive_int, help="passes over the training set (default: the preset's)")
    t.add_argument("--batch-size", type=positive_int, help="images per step (default: the preset's)")
    t.add_argument("--lr", type=float, help="learning rate (default: the preset's)")
    t.add_argument("--seed", type=int, help="seed of the weights, the order and the distortions (default 0)")
    t.add_argument("--subset", type=positive_int, help="train on only this many images per epoch (quick checks)")
    t.add_argument("--device", default="auto", choices=DEVICES, help="auto: a GPU when there is one, else the CPU")
    t.add_argument("--out", type=path_arg, help="run folder (default runs/<preset>-<dataset>-s<seed>)")
    t.add_argument("--resume", action="store_true", help="continue the interrupted run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--no-report", action="store_true", help="skip the figures and report.md at the end")
    t.add_argument("--report-lang", choices=LANGS, default="en", help="language of that report (zh: Chinese, as the lab report)")

    e = command("evaluate", "test-set metrics of a run folder")
    e.add_argument("run_dir", type=path_arg, help="a folder `lenet5 train` wrote")
    e.add_argument("--checkpoint", default="last", choices=["last", "best"],
                   help="the last epoch's weights, or the best epoch's (default last)")
    e.add_argument("--json", action="store_true", help="the metrics as one JSON object")
    _data_args(e, dataset=False)

    v = command("visualize", "draw the figures of a run folder")
    v.add_argument("run_dir", type=path_arg, help="a folder `lenet5 train` wrote")
    v.add_argument("--images", type=positive_int, default=5, help="test digits in the feature-map figure")
    v.add_argument("--index", type=int, nargs="+", help="these test-set indices instead of the first N")
    v.add_argument("--out", type=path_arg, help="folder for the PNGs (default RUN_DIR/figures)")
    v.add_argument("--lang", choices=LANGS, default="en", help="language of titles and labels")
    _data_args(v, dataset=False)

    r = command("report", "write report.md and report.html for a run folder")
    r.add_argument("run_dir", type=path_arg, help="a folder `lenet5 train` wrote")
    r.add_argument("--out", type=path_arg, help="folder for the report (default RUN_DIR)")
    r.add_argument("--lang", choices=LANGS, default="en",
                   help="en, or zh: Chinese in the lab report's own parts (report.zh.md, report.zh.html, figures.zh/)")
    _data_args(r, dataset=False)

    pr = command("predict", "read handwritten digits in image files (the bundled model unless --model)")
    pr.add_argument("images", nargs="+", help="image files or folders of them")
    pr.add_argument("--model", type=path_arg, help="run folder, checkpoint .pt or exported .onnx (default: the bundled robust model)")
    pr.add_argument("--top-k", type=positive_int, default=1, help="show the K likeliest digits for each image")
    pr.add_argument("--json", action="store_true", help="one JSON list, an object per image")
    pr.add_argument("--backend", choices=["auto", "torch", "onnx"], default="auto",
                    help="auto (default): the bundled model through ONNX Runtime where it is installed, "
                         "else torch; onnx: run an exported model with ONNX Runtime (see `lenet5 export`)")
    pr.add_argument("--multi", action="store_true", help="each image is a row of digits (a number)")
    pr.add_argument("--save-preprocessed", metavar="DIR", type=path_arg, help="write the 28×28 images the model saw")

    x = command("export", "export a run's model to ONNX or TorchScript")
    x.add_argument("run_dir", type=path_arg,
                   help="a folder `lenet5 train` wrote, or a .pt checkpoint (e.g. one `--format pt` wrote)")
    x.add_argument("--format", choices=["onnx", "torchscript", "pt"], default="onnx",
                   help="pt: a small inference checkpoint with a JSON record beside it (how the bundled model is made)")
    x.add_argument("--out", type=path_arg, help="output file (default RUN_DIR/export/model.onnx, model.torchscript.pt or model.pt)")
    x.add_argument("--no-check", action="store_true", help="skip the parity check against PyTorch on the test set")
    _data_args(x, dataset=False)

    sv = command("serve", "the drawing page and JSON API (the bundled model unless --model)")
    sv.add_argument("--model", type=path_arg, help="run folder, checkpoint .pt or exported .onnx (default: the bundled robust model)")
    sv.add_argument("--host", default=None, help="interface to bind (default: this machine only)")
    sv.add_argument("--port", type=int, default=None, help="port to listen on (default 8000)")
    sv.add_argument("--max-body", type=positive_int, default=None,
                    help="largest request in bytes (default 16777216: 16 MB, a phone photo even in base64)")
    sv.add_argument("--workers", type=positive_int, default=None,
                    help="server processes, one per core to use (default 1)")
    sv.add_argument("--queue", type=positive_int, default=None,
                    help="requests that may wait per process before the server answers 503 (default 64)")

    ab = command("ablate", "each future-work change over seeds, then a summary table and plot")
    ab.add_argument("--variants", default=None, help="comma-separated (default: all): " + ", ".join(VARIANTS))
    ab.add_argument("--seeds", type=positive_int, default=3, help="runs of each variant, seeds 0, 1, … (default 3)")
    ab.add_argument("--classic-seeds", type=positive_int, help="seeds for classic (default --seeds): it stalls for some")
    ab.add_argument("--epochs", type=positive_int, help="override every variant's epochs")
    ab.add_argument("--subset", type=positive_int, help="train on only this many images per epoch (quick checks)")
    ab.add_argument("--jobs", type=positive_int, default=2,
                    help="worker processes on this machine (each gets cores/jobs threads)")
    ab.add_argument("--out", default="runs/ablation", type=path_arg,
                    help="folder for the runs, the study and the summary (default runs/ablation)")
    _study_args(ab)
    _data_args(ab, dataset=False)

    tu = command("tune", "hyperparameter search (Optuna): best.json, a table and plots")
    tu.add_argument("--preset", default="modern", choices=list(PRESETS),
                    help="the preset whose settings are searched around (default modern)")
    tu.add_argument("--n-trials", type=positive_int, default=30,
                    help="finished trials the study should hold (default 30)")
    tu.add_argument("--timeout", type=float, metavar="SECONDS", help="start no trial after this long")
    tu.add_argument("--epochs", type=positive_int, help="every trial's epochs (default the preset's)")
    tu.add_argument("--subset", type=positive_int, help="train each trial on only this many images per epoch")
    tu.add_argument("--validation", type=positive_int, default=10_000,
                    help="training images held out to score the trials on (default 10000)")
    tu.add_argument("--space", metavar="FILE", type=path_arg,
                    help="search space as JSON (default: the preset's, see lenet5.tune.SPACES)")
    tu.add_argument("--pruner", choices=["median", "hyperband", "none"], default=None, help="default median")
    tu.add_argument("--jobs", type=positive_int, default=1, help="worker processes on this machine")
    tu.add_argument("--seed", type=int, help="the sampler's seed: the same search again (one worker)")
    tu.add_argument("--device", default="auto", choices=DEVICES, help="auto: a GPU when there is one, else the CPU")
    tu.add_argument("--out", type=path_arg, help="folder for the study's files (default runs/tune-<preset>)")
    tu.add_argument("--no-final", action="store_true", help="skip training best.json and its test-set measurement")
    _study_args(tu)
    _data_args(tu, dataset=False)

    d = command("data", "check or download the data sets")
    d.add_argument("action", choices=["check", "download"],
                   help="check: are the files there and whole; download: fetch what is missing")
    _data_args(d)
    return p


def cmd_train(a) -> int:
    from . import config, train
    overrides = {"data": {"dataset": a.dataset, "train_subset": a.subset},
                 "train": {"epochs": a.epochs, "batch_size": a.batch_size, "lr": a.lr, "seed": a.seed}}
    if a.resume:
        flags = {"train_subset": "--subset"}  # the rest are named as their settings
        given = [flags.get(k, f"--{k.replace('_', '-')}") for s in overrides.values() for k, v in s.items()
                 if v is not None]
        if a.config:
            given.append("--config")
        if a.out is None or given or a.preset != "classic":
            raise UserError("--resume continues the run in --out RUN_DIR with its own settings; "
                            "give --out and drop " + (", ".join(given + (["--preset"] if a.preset != "classic" else []))
                                                      or "nothing else"))
        cfg = None
    elif a.config:
        if a.preset != "classic":
            raise UserError("give --config FILE or --preset, not both")
        cfg = config.load_file(a.config, overrides)
    else:
        cfg = config.resolve(a.preset, overrides)
    out = Path(a.out) if a.out else train.default_run_dir(cfg)
    a.out = str(out)  # where an interruption's hint says to resume
    progress = sys.stderr.isatty() and not a.quiet
    command = " ".join(["lenet5", *map(shlex.quote, sys.argv[1:])])  # recorded in config.json
    rows = train.train(cfg, out, resume=a.resume, device=a.device, data_dir=a.data_dir,
                       log=lambda s: print(s, flush=True), progress=progress, command=command)
    print(f"done: {out} (final test accuracy {rows[-1]['test_acc']:.4f})")
    if not a.no_report:
        from .report import write_report
        md, page = write_report(out, a.data_dir, lang=a.report_lang)
        print(f"report: {md} and {page}")
    return EXIT_OK


def cmd_evaluate(a) -> int:
    from .evaluate import evaluate_run
    r = evaluate_run(a.run_dir, a.data_dir, a.checkpoint)
    if a.json:
        print(json.dumps({k: r[k] for k in ("loss", "accuracy", "per_class_accuracy", "confusion_matrix",
                                             "epoch", "dataset", "classes")}))
        return EXIT_OK
    # (its count of finished epochs: `train` numbers them from 0, as the lab report does)
    print(f"{r['run']} ({r['checkpoint']} checkpoint, after {r['epoch']} epoch{'s' * (r['epoch'] != 1)}, "
          f"{r['dataset']} test set)")
    print(f"loss {r['loss']:.4f}  accuracy {r['accuracy']:.4f}")
    print("per-class accuracy:")
    for name, acc in zip(r["classes"], r["per_class_accuracy"]):
        print(f"  {name:>12}: {acc:.4f}")
    print("confusion matrix (rows: true, columns: predicted):")
    width = max(5, max(len(str(v)) for row in r["confusion_matrix"] for v in row) + 1)
    print(" " * 4 + "".join(f"{j:>{width}}" for j in range(len(r["classes"]))))
    for i, row in enumerate(r["confusion_matrix"]):
        print(f"{i:>4}" + "".join(f"{v:>{width}}" for v in row))
    return EXIT_OK


def cmd_visualize(a) -> int:
    from .viz import visualize
    for name, path in visualize(a.run_dir, a.data_dir, a.out, a.images, a.index, lang=a.lang).items():
        print(f"{name}: {path}")
    return EXIT_OK


def cmd_report(a) -> int:
    from .report import write_report
    md, page = write_report(a.run_dir, a.data_dir, a.out, a.lang)
    print(f"report: {md} and {page}")
    return EXIT_OK


def cmd_predict(a) -> int:
    from tqdm import tqdm  # its write() keeps the progress bar below the answers on a terminal

    from .many import collect_images, image_files, preprocessing, skipped_in_folders
    for note in skipped_in_folders(a.images):
        print(one_line(f"lenet5: note: {note}"), file=sys.stderr)
    if a.save_preprocessed:  # checked before any image is read: a folder's answers can take minutes
        check_output_folder(a.save_preprocessed, "the preprocessed images", f"--save-preprocessed {a.save_preprocessed}")
    items = collect_images(a.images)
    # The preprocessing workers start first; torch is imported and the model loaded while they work.
    with preprocessing([] if a.multi else image_files(items), progress=sys.stderr.isatty()) as arrays:
        from .predict import describe, load, read_files, save_preprocessed, to_json
        predictor = load(a.model, backend=a.backend)
        results, unsaid = [], None
        for r in read_files(predictor, items, arrays, a.multi):  # each said as it comes: a folder takes a while
            results.append(r)
            if isinstance(r, tuple):
                tqdm.write(one_line(f"lenet5: error: {r[1]}"), file=sys.stderr)
            elif not a.json:
                try:
                    tqdm.write(one_line(f"{r.source}: {describe(r, a.top_k, predictor.classes)}"), file=sys.stdout)
                except OSError as e:  # the reader went away (`| head`), or a full disk: stop, unless images
                    if not a.save_preprocessed:  # are to be saved (then say so once they are)
                        raise
                    unsaid = unsaid or e
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if a.save_preprocessed:
        save_preprocessed(results, a.save_preprocessed)
    if unsaid is not None:
        raise unsaid
    if a.json:
        print(json.dumps([to_json(r, a.top_k, predictor.classes) for r in results]))
    return EXIT_FAIL if any(isinstance(r, tuple) for r in results) else EXIT_OK


def cmd_export(a) -> int:
    from .export import export
    path, diff = export(a.run_dir, a.format, a.out, a.data_dir, check=not a.no_check)
    checked = f" (max |logit difference| vs PyTorch on the test set: {diff:.2e})" if diff is not None else ""
    print(f"wrote {path}{checked}")
    return EXIT_OK


def cmd_serve(a) -> int:
    # From here until uvicorn takes the signals (importing the server, loading the model: no process
    # started yet, nothing written) and once it has stopped the server (it raises the signal again
    # then), a signal leaves at once. Raising it instead, as every other command does, once raised
    # the CLI's SIGTERM inside torch's native code, and the server aborted (exit -6; seen in a CI run),
    # and inside pydantic-core's as the server was imported (a SchemaError traceback).
    before = {sig: signal.signal(sig, _leave_at_once) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            from .server import serve
        except ImportError as e:
            raise UserError(f"serving needs the serve extra ({e.name} is missing): {install_hint('serve')}") from None
        if a.port is not None and not 0 <= a.port <= 65535:
            raise UserError(f"--port must be 0–65535, got {a.port}")
        given = {"host": a.host, "port": a.port, "max_body": a.max_body, "workers": a.workers, "queue": a.queue}
        serve(a.model, **{k: v for k, v in given.items() if v is not None})  # the library owns the defaults
    finally:  # (main() called from Python: its handlers come back)
        for sig, handler in before.items():
            signal.signal(sig, handler)
    return EXIT_OK


def cmd_ablate(a) -> int:
    from .ablate import ablate, markdown_table
    variants = [v.strip() for v in a.variants.split(",") if v.strip()] if a.variants else None
    summary = ablate(variants, a.seeds, a.out, a.data_dir, a.jobs, a.epochs, a.classic_seeds, a.subset,
                     log=lambda s: print(s, flush=True), storage=a.storage, study=a.study,
                     progress=sys.stderr.isatty() and not a.quiet)
    print(markdown_table(summary))
    print(f"wrote {Path(a.out) / 'ablation.md'}, ablation.csv and ablation.png")
    return EXIT_OK


def cmd_tune(a) -> int:
    from .tune import DEFAULT_PRUNER, tune
    r = tune(a.preset, a.n_trials, a.out, a.data_dir, timeout=a.timeout, epochs=a.epochs, subset=a.subset,
             validation=a.validation, space=a.space, pruner=a.pruner or DEFAULT_PRUNER, jobs=a.jobs,
             storage=a.storage, study=a.study, final=not a.no_final, device=a.device, seed=a.seed,
             log=lambda s: print(s, flush=True), progress=sys.stderr.isatty() and not a.quiet)
    out = Path(a.out or f"runs/tune-{a.preset}")
    c = r["counts"]
    tested = ("" if r["test_acc"] is None
              else f", test accuracy {r['test_acc']:.4f} (best.json trained on the whole train set)")
    print(r["table"])
    print(f"{c['complete']} complete, {c['pruned']} pruned, {c['fail']} failed; best: trial {r['best_trial']}, "
          f"validation accuracy {r['best_value']:.4f}{tested}")
    print(f"wrote {out / 'best.json'} (lenet5 train --config {out / 'best.json'}), tune.md, trials.csv and plots")
    return EXIT_OK


def cmd_data(a) -> int:
    from . import data
    dataset = a.dataset or "mnist"
    if a.action == "download":
        for path in data.download(dataset, a.data_dir, progress=sys.stderr.isatty()):
            print(f"have {path}")
    for path, status in data.check(dataset, a.data_dir):
        print(f"{status}: {path}")
    return EXIT_OK


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "visualize": cmd_visualize, "report": cmd_report,
            "predict": cmd_predict, "export": cmd_export, "serve": cmd_serve,
            "ablate": cmd_ablate, "tune": cmd_tune, "data": cmd_data}


class Terminated(KeyboardInterrupt):
    """SIGTERM, stopped like Ctrl-C; only the exit status differs (143, as a shell reports a SIGTERM)."""


def _raise_terminated(signum, frame):
    raise Terminated


def _interrupts_raised_again(previous):
    """An unraisable-exception hook. Python prints and drops an exception raised in a weakref callback
    or a __del__; a Ctrl-C or SIGTERM that landed there (seen: during an import, as `predict` loads
    torch) was lost, and the command ran on to the end. Such a signal is sent again from a thread a
    moment later, to be raised once the main thread is out of the callback and this hook (dropped
    again, it comes back here). Any other exception goes to the `previous` hook."""
    def hook(unraisable) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            return previous(unraisable)
        signum = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT
        again = threading.Timer(0.05, os.kill, (os.getpid(), signum))
        again.daemon = True
        again.start()
    return hook


# What an interrupted command leaves behind, said after "lenet5: interrupted".
INTERRUPTED_HINTS = {
    "train": "; a run folder keeps every finished epoch (continue with `lenet5 train --out {out} --resume`)",
    "train (nothing written)": "; nothing was written yet (run the same command again)",
    "ablate": "; finished runs are kept in the study (run the same command again to continue; "
              "the interrupted ones are run again)",
    "tune": "; finished trials are kept in the study (run the same command again to continue; "
            "the interrupted ones are run again)",
    "predict": "; the answers printed so far stand",
    "predict --json": "; no list was printed: --json prints it only at the end (without --json the "
                      "answers are printed as they come)",
}


def say_interrupted(hint: str | None, out: str) -> None:
    newline = "\n" if sys.stderr.isatty() else ""  # past the "^C" the terminal echoed mid-line
    print(f"{newline}lenet5: interrupted{INTERRUPTED_HINTS.get(hint, '').format(out=out)}", file=sys.stderr)


def _leave_at_once(signum, frame) -> None:
    """`serve`'s SIGINT/SIGTERM handler while uvicorn does not hold the signals: exit 130 or 143 now,
    with the processes it started (a second Ctrl-C makes uvicorn skip closing them: they ran on for
    6-11 s, each with a BrokenPipeError traceback). It imports nothing: the signal may come while the
    server is still importing multiprocessing, and the half-made module has no `active_children` (an
    AttributeError traceback and exit 1, in the project's CI); no process was started by it then."""
    try:
        process = sys.modules.get("multiprocessing.process")
        for child in getattr(process, "active_children", list)():
            child.kill()
        say_interrupted("serve", "RUN_DIR")
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED)


def entry() -> None:
    """What `lenet5` and `python -m lenet5` run (lenet5.__main__). Every command leaves with
    os._exit once its output is flushed: the interpreter's own teardown after importing torch or ONNX
    Runtime takes 0.1–2 s in native code, where no signal handler runs (a Ctrl-C or SIGTERM then
    ended a finished command with a bare −2 or −15), and a stopped command must be gone within 2 s.
    A finished one runs Python's exit handlers first (joining workers, flushing logs); whatever it
    wrote was already committed (atomic renames)."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:  # started with it closed (`>&-`): what it would say goes nowhere
            setattr(sys, name, open(os.devnull, "w"))
    code = main()
    if code not in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        atexit._run_exitfuncs()  # a signal meanwhile is lenet5.__main__'s again: one line, 130 or 143
    try:
        sys.stdout.flush()  # what is still buffered: its last lines, or all of a short answer
    except BrokenPipeError:  # the reader went away: what it did not read is not an error
        pass
    except OSError as e:  # (a full disk: a traceback and exit 120 before)
        failed, message = describe_os_error(e)
        code = max(code, failed)
        print(f"lenet5: error: {message}", file=sys.stderr)
    with suppress(OSError):  # nowhere left to say it
        sys.stderr.flush()
    os._exit(code)


def one_line(text: str) -> str:
    """`text` with its control characters and undecodable bytes as escapes (\\n, \\x1b, \\u2028, \\xff),
    and a backslash as \\\\, as `ls -b` shows names: a file name holding them can neither break its
    answer's line nor drive the terminal, nor pass for another."""
    return "".join(c if c.isprintable() and c != "\\" else _escaped(c) for c in text)


def _escaped(c: str) -> str:
    if "\udc80" <= c <= "\udcff":  # a byte the file system's name held that is no UTF-8 (surrogateescape)
        return f"\\x{ord(c) - 0xdc00:02x}"
    if ord(c) >= 0x80:  # (as \u…: U+0085 is not the byte 0x85)
        return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"
    return c.encode("unicode_escape").decode("ascii")  # \n, \t, \x1b, \\


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"lenet5: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. What it sets for itself (the SIGINT and SIGTERM handlers,
    the unraisable hook, the warnings' format) is given back when it returns, so a notebook or a
    program calling it keeps its own."""
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), sys.unraisablehook,
              warnings.formatwarning)
    try:
        return _run_command(argv)
    finally:
        sigint, sigterm, sys.unraisablehook, warnings.formatwarning = before
        signal.signal(signal.SIGINT, sigint)
        signal.signal(signal.SIGTERM, sigterm)


def _run_command(argv: list[str] | None) -> int:
    command, hint, args = None, None, None
    warnings.formatwarning = _one_line_warning  # a library warning (e.g. no CJK font) is one line, no source
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)  # SIGTERM stops like Ctrl-C: between atomic writes
        signal.signal(signal.SIGINT, signal.default_int_handler)  # (in place of lenet5.__main__'s)
        args = build_parser().parse_args(argv)
        command = args.command
        hint = f"{command} --json" if getattr(args, "json", False) else command
        sys.unraisablehook = _interrupts_raised_again(sys.unraisablehook)
        return COMMANDS[args.command](args)
    except UserError as e:
        print(one_line(f"lenet5: error: {e}"), file=sys.stderr)
        return EXIT_USAGE
    except TrainingDiverged as e:
        print(f"lenet5: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt as e:
        out = _run_folder_named(args)
        if command == "train" and not RunFolder(out).resumable():
            hint = "train (nothing written)"  # stopped before its run folder held anything to resume
        say_interrupted(hint, out)
        return EXIT_TERMINATED if isinstance(e, Terminated) else EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as e:  # the environment said no: a path, a permission, a full disk
        code, message = describe_os_error(e, command, _run_folder_named(args))
        print(one_line(f"lenet5: error: {message}"), file=sys.stderr)
        return code


def _run_folder_named(args) -> str:
    """The run folder the hints name: --out, or the one `train` chose without it (cmd_train sets it)."""
    return getattr(args, "out", None) or "RUN_DIR"


USER_ERRNOS = {errno.EACCES: "permission denied", errno.EPERM: "not permitted", errno.EROFS: "read-only file system",
               errno.ENOTDIR: "a file is where a folder should be", errno.EISDIR: "is a folder, not a file",
               errno.EEXIST: "already exists", errno.ENOENT: "no such file or folder",
               errno.ENAMETOOLONG: "name too long"}


def describe_os_error(e: OSError, command: str | None = None, out: str = "RUN_DIR") -> tuple[int, str]:
    """(exit code, one line): a path the user gave (2: choose another) or the machine (1: e.g. disk full)."""
    where = " → ".join(written_path(p) for p in (e.filename, e.filename2) if p) or "the output (or a file)"
    if e.errno in USER_ERRNOS:
        return EXIT_USAGE, f"{where}: {USER_ERRNOS[e.errno]}; choose a path you can write, or fix its permissions"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        again = f"continue with `lenet5 train --out {out} --resume`" if command == "train" else "run it again"
        return EXIT_FAIL, f"{where}: no space left on the device; free some space, then {again}"
    return EXIT_FAIL, f"{where}: {e.strerror or e}"
