"""The benchmarks' harness (the ``bench_*.py`` scenarios import it; nothing here is a benchmark itself).

- ``topology``: the stacks (start order, base environment, one process / assembled / supervisor); ``process``:
  one server process with readiness, logs and stop. The tests start their processes through these too.
- ``machine``: what the figures were measured on, CPU seconds; ``loadmeter``: the other load on the machine.
- ``stats``: percentiles and number formats; ``results``: markdown tables, sections and the results files.
- ``h2load``: the load generator; ``mcpwire``: MCP JSON-RPC requests; ``rawhttp``: a cheap HTTP/1.1 client;
  ``seed``: what the MCP scenarios put into a stack before they measure.
- ``workdag``: a seeded work-queue workload (a layered DAG, workers with hidden success probabilities) and its
  references; ``swarmsim``: simulated workers running it through the queue over MCP, the end-state checks and
  what a run shows.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project's root: the benchmarks' processes run there
