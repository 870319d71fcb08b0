"""bench/ghz: every config encodes with the generated classes, and bench/ghz.sh load-tests a real server."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from bench import ghz_encode
from common.server import RunningService

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "bench" / "ghz").glob("*.json"))


def test_there_is_a_config_per_main_rpc() -> None:
    calls = {json.loads(p.read_text())["call"] for p in CONFIGS}
    assert {
        "swarm.memory.v1.MemoryService.Get",
        "swarm.memory.v1.MemoryService.Put",
        "swarm.assignment.v1.AssignmentService.Assign",
    } <= calls


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_each_config_encodes_to_one_grpc_frame(path: Path) -> None:
    config = ghz_encode.load_config(str(path))
    assert "proto" not in config, "ghz uses server reflection"
    assert config["insecure"] is True and config["host"].startswith("127.0.0.1:")
    payload = ghz_encode.build_request(config).SerializeToString()
    body = ghz_encode.frame(payload)
    assert body[0] == 0 and struct.unpack(">I", body[1:5])[0] == len(payload) and body[5:] == payload
    assert ghz_encode.plan(config, config["host"]).startswith(f"http://{config['host']}/swarm.")


async def test_ghz_sh_drives_memory_get_with_h2load(memory_service: RunningService) -> None:
    if shutil.which("ghz") is None and shutil.which("h2load") is None:
        pytest.skip("neither ghz nor h2load installed: run scripts/install-deploy-tools.sh (make test does)")
    proc = await asyncio.create_subprocess_exec(
        "bash",
        str(ROOT / "bench" / "ghz.sh"),
        "memory_get",
        memory_service.address,
        env={**os.environ, "GHZ_TOTAL": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    text = out.decode()
    assert proc.returncode == 0, text
    if shutil.which("ghz") is None:
        assert "grpc-status 0 OK" in text
        assert "requests: 200  non-200: 0" in text and "p99" in text, text
