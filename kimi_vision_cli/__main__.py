"""Entry point for `kimi-vision` and `python -m kimi_vision_cli`.

Kept tiny: `--version` and `--help` must not pay for importing openai (STYLE rule 10).
"""

from __future__ import annotations

import sys


def main() -> None:
    from kimi_vision_cli.cli.main import run

    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
