"""The `lenet5` script and `python -m lenet5`.

Ctrl-C or SIGTERM while Python is still importing the CLI (nothing started, nothing written yet)
leaves at once with the CLI's own line and status: before, it gave a `KeyboardInterrupt` traceback
or a bare exit -15, and a SIGTERM to PID 1 in a container was ignored. `lenet5.cli.main` then puts
its own handlers in place.
"""

import os
import signal
import sys


def _leave(signum, frame) -> None:
    sys.stderr.write("lenet5: interrupted\n")
    os._exit(128 + signum)


def run() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _leave)
    from .cli import entry
    entry()


if __name__ == "__main__":
    run()
