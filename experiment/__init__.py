"""The experiment wing: everything that wires a plan to the outside world, by concept.

- ``cli/``: the ``routetrial`` command line; commands call library code (and the shared
  ``steps`` and ``options``), never each other.
- ``campaign/``: the simulated runner (SimPy virtual time) and the live scheduler (wall clock,
  real HTTP), and what they share: requests from the schedule, counts, progress, the writer.
- ``store/``: the trial store, the only code that speaks SQL or Arrow.
- ``design/``: design diagnosis by simulation (the engine, the worlds, the figures, the file).
- ``locked/``: the locked analysis of a frozen plan's trials, and its report.
- ``serve/``: a real OpenAI-compatible test server with fault injection.
- ``stop_signals``: SIGINT, SIGTERM and SIGHUP, caught and acted on at safe points.

Nothing here is imported at package import: ``routetrial --help`` and design workers load only
what they use (no DuckDB). ``tests/test_house_rules.py`` pins which part may import which.
"""
