"""Coverage-guided fuzz targets (atheris) for the host's parsers of hostile input.

Each ``fuzz_*.py`` here is a standalone atheris program: ``python -m
tests.security.fuzz.fuzz_package -max_total_time=60``. ``python -m tests.security.fuzz``
runs every target for a bounded time each (the test command does, with a small budget)
and fails if any target found a crash; a crashing input is kept in ``build/fuzz/``.
"""
