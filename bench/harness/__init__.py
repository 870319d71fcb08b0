"""The benchmarks' harness (the ``bench_*.py`` scenarios import it; nothing here is a benchmark itself).

- ``topology``: the stacks (start order, base environment, one process / assembled / supervisor); ``process``:
  one server process with readiness, logs and stop. The tests start their processes through these too.
- ``machine``: what the figures were measured on, CPU seconds.
"""
