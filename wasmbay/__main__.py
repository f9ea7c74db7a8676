"""Entry point: ``wasmbay`` with no arguments opens the window, otherwise the CLI."""

import contextlib
import os
import sys


def main() -> None:
    from wasmbay.cli import main as cli_main

    code = cli_main(sys.argv[1:])
    # Everything is closed and written by now. Leave without interpreter teardown:
    # wasmtime's WASI worker threads (tokio) can still be parked, and tearing the
    # process down under them sometimes made one print a Rust panic on the way out.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`... | head`)
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
