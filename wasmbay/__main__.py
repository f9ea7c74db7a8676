"""Entry point: ``wasmbay`` with no arguments opens the window, otherwise the CLI."""

import sys


def main() -> None:
    from wasmbay.cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
