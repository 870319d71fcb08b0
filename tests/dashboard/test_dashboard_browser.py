"""The dashboard in a real browser (Debian's headless Chromium, driven by Playwright) against a real ``swarm up``
with a token: the swarm is made through MCP (swarmstate.py), then each view shows it, the page follows a task
that ends without a reload, and a cancel, a requeue, a lease release and the removal of an offline agent taken
on the page are what task_list, lease_list and agent_list then answer.
Each view is saved as a PNG (browser.ARTIFACTS)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2 as httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.harness.topology import QUIET, Shape, running_async
from tests.dashboard.browser import ARTIFACTS, chromium, need_chromium
from tests.dashboard.swarmstate import call, make

TOKEN = "browser-test-token-0123456789abcdef"
LIVE_S = 6.0  # the page polls every 2 s: a change shows within one poll and a slow answer


@pytest.mark.timeout(240)
async def test_dashboard_shows_the_swarm_follows_it_and_acts_through_the_tools(tmp_path: Path) -> None:
    need_chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {**QUIET, "SWARM_AUTH_TOKEN": TOKEN}
    async with running_async(Shape("up"), tmp_path / "data", env) as topo:
        base = f"http://127.0.0.1:{topo.http_port}"
        http_client = httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"})
        async with http_client, Client(streamable_http_client(topo.url, http_client=http_client)) as client:
            made = await make(client)
            async with chromium() as browser:
                page = await browser.new_page(viewport={"width": 1400, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.on("dialog", lambda d: d.accept())

                # no cookie yet: the login form, answered 401
                first = await page.goto(base + "/")
                assert first is not None and first.status == 401
                await page.screenshot(path=ARTIFACTS / "login.png")
                await page.fill("#token", TOKEN)
                await page.click("#login button")
                await page.wait_for_selector('#agents tr[data-agent-id="worker-1"]')

                # Agents
                row = page.locator('#agents tr[data-agent-id="worker-1"]')
                await expect_text(row, "busy")
                await expect_text(row, "py 0.90")
                await expect_text(row, "index")  # the task it holds
                await expect_text(page.locator('#agents tr[data-agent-id="sleeper"]'), "offline")
                await expect_text(page.locator("#counts"), "dead 1")
                await page.screenshot(path=ARTIFACTS / "agents.png", full_page=True)

                # Tasks: the board, the graph, the critical path
                await page.click('a[data-view="tasks"]')
                await page.wait_for_selector('#col-done .task[data-task-id="fetch"]')
                await expect_text(page.locator('#col-dead .task[data-task-id="flaky"]'), "connection reset by peer")
                await expect_text(page.locator('#col-running .task[data-task-id="index"]'), "halfway through")
                await expect_text(page.locator('#col-queued .task[data-task-id="orphan"]'), "nobody can take this")
                await expect_text(page.locator('#col-queued .task[data-task-id="report"]'), "blocked")
                await page.click('#col-done .task[data-task-id="fetch"] summary')
                await expect_text(page.locator('#col-done .task[data-task-id="fetch"] pre'), '"pages": 3')
                await page.wait_for_selector('#graph g[data-node="report"]')
                assert await page.locator("#graph g[data-node]").count() == 6
                await expect_text(page.locator("#critical"), "fetch → ")
                await expect_text(page.locator("#critical"), "report")
                await page.screenshot(path=ARTIFACTS / "tasks.png", full_page=True)

                # the filter: type cpu only
                await page.fill('#filters input[name="type"]', "cpu")
                await page.wait_for_selector('#col-done .task[data-task-id="fetch"]', state="detached")
                await page.wait_for_selector('#col-done .task[data-task-id="parse"]')
                await page.fill('#filters input[name="type"]', "")
                await page.wait_for_selector('#col-done .task[data-task-id="fetch"]')

                # live: a task that ends through MCP moves to done without a reload
                await call(client, "task_report", {"task_id": "index", "agent_id": "worker-1", "success": True})
                ended = time.monotonic()
                await page.wait_for_selector('#col-done .task[data-task-id="index"]', timeout=LIVE_S * 1000)
                live_s = time.monotonic() - ended
                assert live_s < LIVE_S

                # a cancel on the page is what task_list answers
                await page.click('#col-queued .task[data-task-id="orphan"] button')
                await page.wait_for_selector('#col-cancelled .task[data-task-id="orphan"]', timeout=LIVE_S * 1000)
                listed = await call(client, "task_list", {"ids": ["orphan"]})
                assert listed["tasks"][0]["state"] == "cancelled"
                assert "dashboard" in listed["tasks"][0]["reason"]

                # a requeue of the dead task on the page: one more attempt, placed again
                await page.click('#col-dead .task[data-task-id="flaky"] button')
                await page.wait_for_selector('#col-dead .task[data-task-id="flaky"]', state="detached")
                again = (await call(client, "task_list", {"ids": ["flaky"]}))["tasks"][0]
                assert again["state"] in ("queued", "placed") and again["max_attempts"] == 2

                # Learning
                await page.click('a[data-view="learning"]')
                cell = page.locator('#heat tr[data-agent-id="worker-1"] td[data-type="cpu"]')
                await expect_text(cell, "2 ok / 0 failed")
                await expect_text(page.locator('#heat tr[data-agent-id="worker-1"] td[data-type="net"]'), "1 failed")
                await page.screenshot(path=ARTIFACTS / "learning.png", full_page=True)

                # Consensus
                await page.click('a[data-view="consensus"]')
                proposal = page.locator(f'#proposals tr[data-proposal-id="{made["proposal_id"]}"]')
                for text in ("Release on Friday?", "decided", "2 / 2", "yes: 2", "majority"):
                    await expect_text(proposal, text)
                await page.screenshot(path=ARTIFACTS / "consensus.png", full_page=True)

                # Messages and leases
                await page.click('a[data-view="messages"]')
                await expect_text(page.locator("#unacked"), "index is slow")
                await expect_text(page.locator("#unacked"), "worker-2")
                await expect_text(page.locator("#threads"), "worker-1, worker-2")
                lease = page.locator(f'#leases tr[data-lease-id="{made["lease_id"]}"]')
                for text in ("src/api/**", "worker-2", "exclusive", "refactor"):
                    await expect_text(lease, text)
                await page.screenshot(path=ARTIFACTS / "messages.png", full_page=True)
                await lease.locator("button").click()
                await page.wait_for_selector(f'#leases tr[data-lease-id="{made["lease_id"]}"]', state="detached")
                assert (await call(client, "lease_list", {}))["leases"] == []

                # Health and speed: every service serving, the tools the swarm called with their figures
                await page.click('a[data-view="health"]')
                for name in ("memory", "assignment", "consensus", "telemetry"):
                    await expect_text(page.locator(f'#services tr[data-service="{name}"]'), "SERVING")
                await page.wait_for_selector('#speed tr[data-tool="task_report"]')
                await page.wait_for_selector("#processes tr[data-process]")
                await page.screenshot(path=ARTIFACTS / "health.png", full_page=True)

                # removing the offline agent from the Agents view
                await page.click('a[data-view="agents"]')
                await page.click('#agents tr[data-agent-id="sleeper"] button')
                await page.wait_for_selector('#agents tr[data-agent-id="sleeper"]', state="detached")
                agents = (await call(client, "agent_list", {}))["agents"]
                assert "sleeper" not in {a["agent_id"] for a in agents}
                assert not errors, errors

        # a browser without the cookie, and a page of another site
        async with httpx.AsyncClient(base_url=base) as web:
            assert (await web.get("/api/tasks")).status_code == 401
            r = await web.get("/api/tasks", headers={"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.test"})
            assert r.status_code == 403


async def expect_text(locator: object, text: str, timeout_s: float = LIVE_S) -> None:
    """Wait until the element's text contains ``text`` (the page draws on its next poll)."""
    from playwright.async_api import expect

    await expect(locator).to_contain_text(text, timeout=timeout_s * 1000)  # type: ignore[arg-type]
