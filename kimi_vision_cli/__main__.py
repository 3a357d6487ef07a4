"""Entry point for `kimi-vision` and `python -m kimi_vision_cli`.

Kept tiny: `--version` and `--help` must not pay for importing openai (STYLE rule 10).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType


def main() -> None:
    from kimi_vision_cli.errors import Terminated
    from kimi_vision_cli.terminal import ReaderGuard

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated

    # SIGTERM (what CI sends on cancel) stops like Ctrl-C: the same clean stop, exit 143.
    signal.signal(signal.SIGTERM, terminate)

    # Everything written to stdout, click's --help included, goes through the guard: a
    # full disk or a closed pipe ends the run with one line (cli.main.run), not a traceback.
    sys.stdout = ReaderGuard(sys.stdout)
    from kimi_vision_cli.cli.main import run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
