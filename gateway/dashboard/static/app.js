// The swarm dashboard: polls the JSON of the view on screen (and the counts) every POLL_MS, draws it with DOM
// nodes (text is always set as text, never parsed as HTML: everything here comes from agents), and sends the
// few actions with the X-Swarm-Dashboard header. No framework, no build step.
"use strict";

const POLL_MS = 2000;
const GRAPH_EVERY = 3; // the dependency graph every third poll
const STATES = ["blocked", "queued", "placed", "running", "done", "dead", "cancelled"];
let view = "agents";
let tick = 0;
let timer = null;
let actionProblem = "";

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "style") el.style.cssText = v; // CSSOM: allowed by the page's CSP, a style attribute is not
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const badge = (s) => h("span", { class: `badge s-${s}` }, s);
const ago = (t) => {
  if (!t) return "never";
  const s = Math.max(0, Date.now() / 1000 - t);
  return s < 90 ? `${s.toFixed(0)} s ago` : s < 5400 ? `${(s / 60).toFixed(0)} min ago` : `${(s / 3600).toFixed(1)} h ago`;
};
const fmt = (x, d = 1) => (typeof x === "number" ? x.toFixed(d) : "");

function fill(tbodySelector, rows) {
  const body = document.querySelector(tbodySelector);
  body.replaceChildren(...rows);
}

function problem(text) {
  const p = document.getElementById("problem");
  p.hidden = !text;
  p.textContent = text || "";
}

async function get(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (r.status === 401) {
    window.location.assign("/login");
    throw new Error("not logged in");
  }
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `${path}: HTTP ${r.status}`);
  return body;
}

async function act(name, args, confirmText) {
  if (confirmText && !window.confirm(confirmText)) return;
  const r = await fetch(`/api/actions/${name}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Swarm-Dashboard": "1" },
    body: JSON.stringify(args),
  });
  const body = await r.json();
  actionProblem = r.ok ? "" : `${name}: ${body.error}`;
  problem(actionProblem);
  refresh();
}

function drawCounts(counts) {
  const el = document.getElementById("counts");
  el.replaceChildren(...STATES.map((s) => h("span", { "data-state": s }, badge(s), " ", counts[s] || 0)));
}

function drawAgents(d) {
  fill("#agents tbody", d.agents.map((a) => {
    const share = a.capacity ? Math.min(1, a.load / a.capacity) : 0;
    return h("tr", { "data-agent-id": a.agent_id },
      h("td", {}, a.agent_id),
      h("td", {}, badge(a.status)),
      h("td", {}, h("span", { class: "bar" }, h("i", { style: `width:${(share * 100).toFixed(0)}%` })), `${fmt(a.load)} / ${fmt(a.capacity)}`),
      h("td", {}, Object.entries(a.skills).map(([k, v]) => `${k} ${fmt(v, 2)}`).join(", ")),
      h("td", { title: a.last_seen ? new Date(a.last_seen * 1000).toISOString() : "" }, ago(a.last_seen)),
      h("td", {}, `${a.open_tasks}`, a.tasks.length ? h("small", {}, " ", a.tasks.join(", ")) : null),
      h("td", {}, a.status === "offline"
        ? h("button", { class: "act", onclick: () => act("remove_agent", { agent_id: a.agent_id }, `Remove agent ${a.agent_id}?`) }, "remove")
        : null));
  }));
}

function taskCard(t) {
  const open = ["blocked", "queued", "placed", "running"].includes(t.state);
  return h("div", { class: "task", "data-task-id": t.id, "data-state": t.state },
    h("div", {}, h("b", {}, t.id), " ", badge(t.state), t.title ? ` ${t.title}` : ""),
    h("div", { class: "meta" }, `type ${t.type}`, t.agent_id ? ` · ${t.agent_id}` : "", ` · attempt ${t.attempt}/${t.max_attempts}`,
      t.depends_on ? ` · after ${t.depends_on.join(", ")}` : ""),
    t.reason ? h("div", { class: "meta" }, t.reason) : null,
    t.progress ? h("div", { class: "progress" }, `progress: ${t.progress}`) : null,
    (t.errors || []).map((e) => h("div", { class: "err" }, `#${e.attempt} ${e.agent_id}: ${e.error}`)),
    t.result !== undefined ? h("details", {}, h("summary", {}, "result"), h("pre", {}, t.result)) : null,
    open ? h("button", { class: "act", onclick: () => act("cancel_task", { task_id: t.id }, `Cancel task ${t.id} (and its dependents)?`) }, "cancel") : null,
    t.state === "dead" ? h("button", { class: "act", onclick: () => act("requeue_task", { task_id: t.id }, `Give task ${t.id} one more attempt?`) }, "requeue") : null);
}

function drawTasks(d) {
  drawCounts(d.counts);
  const cols = Object.entries(d.board).map(([name, col]) => {
    const states = { queued: ["blocked", "queued"], running: ["placed", "running"] }[name] || [name];
    const total = states.reduce((n, s) => n + (d.counts[s] || 0), 0);
    return h("div", { class: "column", id: `col-${name}` },
      h("h3", {}, `${name} (${total})`),
      col.tasks.map(taskCard),
      col.more ? h("small", {}, `first ${d.column_limit} shown`) : null);
  });
  document.getElementById("board").replaceChildren(...cols);
}

function drawGraph(g) {
  const W = 150, H = 34, PAD = 10;
  const crit = new Set(g.critical_path);
  const pos = {};
  let maxX = 0, maxY = 0;
  for (const n of g.nodes) {
    pos[n.id] = [PAD + n.layer * W, PAD + n.row * H];
    maxX = Math.max(maxX, pos[n.id][0]); maxY = Math.max(maxY, pos[n.id][1]);
  }
  const root = svg("svg", { width: maxX + W, height: maxY + H + PAD, role: "img", "aria-label": "task dependency graph" });
  for (const [from, to] of g.edges) {
    const [x1, y1] = pos[from], [x2, y2] = pos[to];
    const onPath = crit.has(from) && crit.has(to) && g.critical_path.indexOf(to) === g.critical_path.indexOf(from) + 1;
    root.append(svg("path", { class: onPath ? "edge crit" : "edge", d: `M${x1 + 120},${y1 + 12} C${x1 + 135},${y1 + 12} ${x2 - 15},${y2 + 12} ${x2},${y2 + 12}` }));
  }
  const colour = { done: "#d1f2dc", running: "#dbe6ff", placed: "#dbe6ff", queued: "#fff1c7", blocked: "#ececec", dead: "#fbd5d2", cancelled: "#ececec" };
  for (const n of g.nodes) {
    const [x, y] = pos[n.id];
    const node = svg("g", { "data-node": n.id, "data-state": n.state });
    node.append(svg("rect", { x, y, width: 120, height: 24, rx: 4, fill: colour[n.state] || "#fff", stroke: "#8890a0", class: crit.has(n.id) ? "crit" : "" }));
    node.append(svg("text", { x: x + 6, y: y + 16 }, n.id.length > 18 ? n.id.slice(0, 17) + "…" : n.id));
    node.append(svg("title", {}, `${n.id}: ${n.state} (${n.type})`));
    root.append(node);
  }
  document.getElementById("graph").replaceChildren(root);
  document.getElementById("critical").textContent = g.critical_path.length
    ? `critical path (${g.critical_path.length} tasks, ${fmt(g.critical_s, 2)} s run): ${g.critical_path.join(" → ")}` +
      (g.more ? " · first tasks of the filter only" : "") + (g.outside.length ? ` · ${g.outside.length} dependencies outside the filter` : "")
    : "no tasks";
}

function heatColour(s) {
  const x = Math.max(-1, Math.min(1, Math.log(s) / Math.log(5))); // 0.2..5 -> -1..1
  return x >= 0 ? `rgba(34,139,84,${(x * 0.8).toFixed(2)})` : `rgba(208,52,44,${(-x * 0.8).toFixed(2)})`;
}

function drawLearning(d) {
  document.getElementById("half-life").textContent = `${fmt(d.half_life_s / 60, 0)} min`;
  const cell = {};
  for (const t of d.trails) cell[`${t.agent_id}\u0000${t.task_type}`] = t;
  const table = document.getElementById("heat");
  table.replaceChildren(
    h("thead", {}, h("tr", {}, h("th", {}, "agent \\ type"), d.types.map((t) => h("th", {}, t)))),
    h("tbody", {}, d.agents.map((a) => h("tr", { "data-agent-id": a }, h("th", {}, a), d.types.map((ty) => {
      const t = cell[`${a}\u0000${ty}`];
      return t
        ? h("td", { style: `background:${heatColour(t.strength)}`, "data-type": ty }, fmt(t.strength, 2), h("small", {}, `${t.successes} ok / ${t.failures} failed`))
        : h("td", {}, "");
    })))));
}

function drawConsensus(d) {
  document.getElementById("proposal-counts").textContent = Object.entries(d.counts).map(([k, v]) => `${k}: ${v}`).join(" · ") || "no proposals";
  fill("#proposals tbody", d.proposals.map((p) => h("tr", { "data-proposal-id": p.proposal_id },
    h("td", {}, p.proposal_id), h("td", {}, p.question), h("td", {}, p.method), h("td", { title: p.reason }, badge(p.status)),
    h("td", {}, `${p.votes} / ${p.eligible}`),
    h("td", {}, Object.entries(p.tally).map(([k, v]) => `${k}: ${+v.toFixed(3)}`).join(", "), p.rounds > 1 ? h("small", {}, ` (${p.rounds} rounds)`) : null),
    h("td", {}, p.winners.join(", "), p.tied ? " (tied)" : ""))));
}

function drawMessages(d) {
  fill("#unacked tbody", d.unacknowledged.map((m) => h("tr", { "data-message-id": m.id },
    h("td", {}, m.id), h("td", {}, m.from), h("td", {}, m.subject), h("td", {}, m.importance),
    h("td", {}, m.not_acknowledged.join(", ")), h("td", {}, ago(m.created_at)))));
  fill("#threads tbody", d.threads.map((t) => h("tr", { "data-thread-id": t.thread_id },
    h("td", {}, t.thread_id), h("td", {}, t.subject), h("td", {}, t.messages), h("td", {}, t.people.join(", ")), h("td", {}, ago(t.last_at)))));
  fill("#leases tbody", d.leases.map((x) => h("tr", { "data-lease-id": x.lease_id },
    h("td", {}, x.lease_id), h("td", {}, x.resource), h("td", {}, x.agent_id), h("td", {}, x.token),
    h("td", {}, x.exclusive ? "exclusive" : "shared"), h("td", {}, `${fmt(x.expires_in_s, 0)} s`), h("td", {}, x.reason || ""),
    h("td", {}, h("button", { class: "act", onclick: () => act("release_lease", { lease_id: x.lease_id }, `Release ${x.lease_id} held by ${x.agent_id}?`) }, "release")))));
}

function spark(points, index) {
  const el = svg("svg", { class: "spark", viewBox: "0 0 120 20", preserveAspectRatio: "none" });
  if (points.length < 2) return el;
  const t0 = points[0][0], t1 = points[points.length - 1][0] || t0 + 1;
  const top = Math.max(...points.map((p) => p[index])) || 1;
  const xy = points.map((p) => `${(((p[0] - t0) / (t1 - t0 || 1)) * 120).toFixed(1)},${(19 - (p[index] / top) * 18).toFixed(1)}`);
  el.append(svg("polyline", { points: xy.join(" ") }), svg("title", {}, `max ${top.toFixed(2)}`));
  return el;
}

function drawHealth(d) {
  fill("#services tbody", Object.entries(d.status.services).map(([name, s]) => h("tr", { "data-service": name },
    h("td", {}, name), h("td", {}, badge(s.status)), h("td", {}, s.version || ""), h("td", {}, s.address),
    h("td", {}, s.uptime_s !== undefined && s.uptime_s !== null ? `${fmt(s.uptime_s / 60, 1)} min` : ""), h("td", {}, s.latency_ms !== undefined ? `${s.latency_ms} ms` : s.error || ""))));
  fill("#processes tbody", d.processes.map((p) => h("tr", { "data-process": p.process },
    h("td", {}, p.process), h("td", {}, p.pid), h("td", {}, fmt(p.cpu_percent)), h("td", {}, fmt(p.pss_mb)), h("td", {}, fmt(p.rss_mb)), h("td", {}, p.connections))));
  const series = d.series.tools;
  document.getElementById("speed-note").textContent = `over the last ${d.series.window_s} s; charts: one point per ${d.series.every_s} s while this view is open`;
  fill("#speed tbody", d.tools.map((m) => h("tr", { "data-tool": m.name },
    h("td", {}, m.name), h("td", {}, fmt(m.rate_per_s, 2)), h("td", {}, fmt(m.p50_ms, 2)), h("td", {}, fmt(m.p99_ms, 2)), h("td", {}, m.errors),
    h("td", {}, spark(series[m.name] || [], 1)), h("td", {}, spark(series[m.name] || [], 3)))));
}

function query() {
  const f = new FormData(document.getElementById("filters"));
  const q = new URLSearchParams();
  for (const [k, v] of f.entries()) if (v) q.set(k, v);
  return q.toString();
}

async function refresh() {
  clearTimeout(timer);
  tick += 1;
  try {
    if (view === "tasks") {
      const q = query();
      drawTasks(await get(`/api/tasks?${q}`));
      if (tick % GRAPH_EVERY === 1) drawGraph(await get(`/api/graph?${q}`));
    } else {
      const jobs = [get("/api/summary").then((s) => drawCounts(s.counts))];
      const draw = { agents: drawAgents, learning: drawLearning, consensus: drawConsensus, messages: drawMessages, health: drawHealth }[view];
      jobs.push(get(`/api/${view}`).then(draw));
      await Promise.all(jobs);
    }
    document.getElementById("live").textContent = `updated ${new Date().toLocaleTimeString()}`;
    problem(actionProblem);
  } catch (e) {
    problem(String(e.message || e));
  }
  timer = setTimeout(refresh, POLL_MS);
}

function show() {
  view = (location.hash || "#agents").slice(1);
  if (!document.getElementById(`view-${view}`)) view = "agents";
  for (const s of document.querySelectorAll("main section")) s.hidden = s.dataset.view !== view;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.view === view);
  tick = 0;
  refresh();
}

window.addEventListener("hashchange", show);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("filters").addEventListener("input", () => { tick = 0; refresh(); });
  document.getElementById("filters").addEventListener("submit", (e) => e.preventDefault());
  show();
});
