"""The Grafana dashboard only plots series the gateway's /metrics really exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPOSED = {
    "swarm_call_rate_per_second",
    "swarm_call_errors_total",
    "swarm_calls_total",
    "swarm_call_latency_ms",
    "swarm_process_cpu_percent",
    "swarm_process_pss_bytes",
    "swarm_process_rss_bytes",
    "swarm_telemetry_up",
    "swarm_telemetry_dropped_batches_total",
}


def test_dashboard_queries_exposed_metrics() -> None:
    dash = json.loads((ROOT / "k8s/grafana/swarm-dashboard.json").read_text())
    assert dash["panels"]
    for panel in dash["panels"]:
        for target in panel["targets"]:
            names = set(re.findall(r"\b(swarm_[a-z_]+)\b", target["expr"]))
            assert names and names <= EXPOSED, (panel["title"], names - EXPOSED)
    source = (ROOT / "gateway/tools/metrics.py").read_text()
    for name in EXPOSED:
        assert name.removesuffix("_total") in source, name
