// faed's dashboard: polls GET /stats and GET /cluster/map once a second and
// draws what they say. Rates (calls/s, errors/s) are computed here from the
// counters' growth between two polls, so the page needs nothing faed does
// not already serve. Text goes in with textContent only: stats carry names
// that callers choose (call names, keys of pools), never markup.
"use strict";

const pollMs = 1000;
const windowPoints = 120; // two minutes at one poll a second
const busiest = 4;        // calls drawn in the p99 chart

const series = { t: [], calls: [], errors: [], sessions: [], p99: new Map() };
const charts = {};     // uPlot charts by element id
const chartNames = {}; // the series names each was made for
let last = null; // the previous /stats and its time

function $(id) { return document.getElementById(id); }

function push(list, v) {
  list.push(v);
  if (list.length > windowPoints) list.shift();
}

// chart draws one uPlot chart into the element id, created at the first data.
function chart(id, names, data) {
  if (!charts[id]) {
    const colors = ["#2a6fdb", "#d9480f", "#2b8a3e", "#862e9c", "#e67700"];
    charts[id] = new uPlot({
      width: 420, height: 160,
      scales: { x: { time: true } },
      series: [{}, ...names.map((label, i) => ({ label, stroke: colors[i % colors.length], width: 1.5 }))],
    }, data, $(id));
    chartNames[id] = names.join("\n");
    return;
  }
  if (chartNames[id] !== names.join("\n")) { // the busiest calls changed
    charts[id].destroy();
    delete charts[id];
    $(id).textContent = "";
    chart(id, names, data);
    return;
  }
  charts[id].setData(data);
}

function rows(tableId, cells) {
  const body = $(tableId).tBodies[0];
  body.textContent = "";
  for (const row of cells) {
    const tr = body.insertRow();
    for (const c of row) {
      const td = tr.insertCell();
      td.textContent = typeof c === "object" ? c.text : String(c);
      if (typeof c === "number" || (typeof c === "object" && c.num)) td.className = "num";
      if (typeof c === "object" && c.cls) td.className = c.cls;
    }
  }
}

// walk calls fn(path, key, value) for every key of a decoded JSON value.
function walk(v, path, fn) {
  if (v === null || typeof v !== "object") return;
  for (const [k, child] of Object.entries(v)) {
    const name = child && typeof child === "object" && (child.name || child.server || child.addr);
    const p = Array.isArray(v) ? path.concat(name || k) : path.concat(k);
    fn(path, k, child);
    walk(child, p, fn);
  }
}

const breakerStates = new Set(["closed", "open", "half-open"]);

function showEngine(stats, now) {
  const e = stats.engine;
  const dt = last ? (now - last.now) / 1000 : 0;
  const rate = (cur, prev) => (dt > 0 ? Math.max(cur - prev, 0) / dt : 0);
  push(series.t, now / 1000);
  push(series.calls, last ? rate(e.calls, last.stats.engine.calls) : 0);
  push(series.errors, last ? rate(e.errors, last.stats.engine.errors) : 0);
  push(series.sessions, e.sessions_active);
  chart("chart-calls", ["calls/s"], [series.t, series.calls]);
  chart("chart-errors", ["errors/s"], [series.t, series.errors]);
  chart("chart-sessions", ["sessions"], [series.t, series.sessions]);

  const calls = (e.per_call || []).slice().sort((a, b) => b.count - a.count);
  rows("calls", calls.map(c => [c.name, c.count, c.errors, Math.round(c.p50_us), Math.round(c.p99_us)]));
  for (const c of calls) {
    if (!series.p99.has(c.name)) series.p99.set(c.name, new Array(series.t.length - 1).fill(null));
  }
  const byName = new Map(calls.map(c => [c.name, c]));
  for (const [name, list] of series.p99) {
    const c = byName.get(name);
    push(list, c ? c.p99_us : null);
    while (list.length < series.t.length) list.unshift(null);
  }
  const top = calls.slice(0, busiest).map(c => c.name);
  if (top.length > 0) chart("chart-p99", top, [series.t, ...top.map(n => series.p99.get(n))]);
}

function showServants(stats) {
  const breakers = [], degrade = [];
  walk(stats.servant || {}, ["servant"], (path, k, v) => {
    if (typeof v === "string" && breakerStates.has(v)) {
      breakers.push([path.concat(k).join("."), { text: v, cls: v }]);
    }
    if (typeof v === "boolean" && (k === "degraded" || k === "read_only")) {
      degrade.push([path.join("."), k, v ? "on" : "off"]);
    }
  });
  rows("breakers", breakers.length ? breakers : [["no pool configured", ""]]);
  rows("degrade", degrade.length ? degrade : [["none configured", "", ""]]);
}

function showCluster(m) {
  if (!m) {
    $("cluster").textContent = "One node, no ZooKeeper: every vbucket is served here.";
    rows("members", []);
    $("rebalance").textContent = "";
    return;
  }
  $("cluster").textContent = `map version ${m.version}, ${m.vbuckets} vbuckets, balance ${m.balance} (max − min), coordinator ${m.coordinator || "none"}`;
  rows("members", Object.entries(m.counts || {}).sort().map(([node, n]) => [node, n]));
  const r = m.rebalance || {};
  const current = (r.current || []).map(mv => `${mv.vbucket} ${mv.from}→${mv.to} (${mv.phase})`).join(", ");
  $("rebalance").textContent = `rebalance: ${r.moves_done}/${r.moves_total} moves done, ${r.keys_copied} keys and ${r.bytes_copied} bytes copied` +
    (current ? `; moving now: ${current}` : "");
}

async function getJSON(path) {
  const resp = await fetch(path, { cache: "no-store" });
  if (resp.status === 404) return null;
  if (!resp.ok) throw new Error(`${path}: ${resp.status}`);
  return resp.json();
}

async function poll() {
  try {
    const [stats, m] = await Promise.all([getJSON("/stats"), getJSON("/cluster/map")]);
    const now = Date.now();
    showEngine(stats, now);
    showServants(stats);
    showCluster(m);
    last = { stats, now };
    $("status").textContent = `up ${Math.round(stats.engine.uptime_sec)} s, updated ${new Date(now).toLocaleTimeString()}`;
  } catch (err) {
    $("status").textContent = `cannot read faed's stats: ${err.message}`;
  }
  setTimeout(poll, pollMs);
}

poll();
