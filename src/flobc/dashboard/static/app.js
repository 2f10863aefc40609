/* FLoBC dashboard: fetches this validator's JSON API, re-fetches what changed on each
 * server-sent event (/v1/events), draws charts with the vendored uPlot. No build step. */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
    "#db2777", "#4f46e5", "#65a30d", "#0d9488", "#7c3aed", "#b45309", "#be123c"];
  const state = {
    net: null, round: null, trainers: [], versions: [], updates: [], height: null,
    events: 0, seenUpdates: new Set(), seenVersions: new Set(), firstLoad: true,
    subnets: [], subnet: null, // model subnetworks (/v1/subnets) and the one shown
  };
  window.flobcDashboard = state; // for tests and the curious

  // ------------------------------------------------------------------ helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  const td = (text, cls) => el("td", { class: cls, text: text });
  const fmt = (x, d = 3) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(d));
  const short = (hex, n = 8) => (hex ? String(hex).slice(0, n) : "–");
  const clock = (ms) => (ms ? new Date(ms).toLocaleTimeString([], { hour12: false }) : "–");
  const badge = (text, cls) => el("span", { class: "badge " + (cls || text), text: text });
  const trainerName = (id) => {
    const t = state.trainers.find((x) => x.id === id);
    return t ? t.name || "trainer-" + t.index : short(id);
  };

  // Every FL read names the model subnetwork shown (none on a single-model network).
  const q = (path) => (state.subnet
    ? path + (path.includes("?") ? "&" : "?") + "subnet=" + encodeURIComponent(state.subnet)
    : path);

  function renderSubnets() {
    const box = $("h-subnet-box");
    box.hidden = state.subnets.length === 0;
    const select = $("h-subnet");
    select.replaceChildren(...state.subnets.map((s) => {
      const opt = el("option", { value: s.name, text: s.name + " (" + s.model + ", " + s.scheme + ")" });
      opt.selected = s.name === state.subnet;
      return opt;
    }));
  }

  async function getJSON(path) {
    const resp = await fetch(path, { cache: "no-store" });
    if (!resp.ok) throw new Error(path + ": HTTP " + resp.status);
    return resp.json();
  }

  function banner(msg) {
    const b = $("banner");
    b.hidden = !msg;
    b.textContent = msg || "";
  }

  function fillBody(table, rows) {
    const body = document.querySelector("#" + table + " tbody");
    body.replaceChildren(...rows);
  }

  // ------------------------------------------------------------------ charts

  const charts = {};

  function chartSize(box) {
    return { width: Math.max(box.clientWidth, 200), height: 250 };
  }

  /** Create or update the chart in `id`; recreated when its series change. */
  function drawChart(id, key, makeOpts, data) {
    const box = $(id);
    const c = charts[id];
    if (c && c.key === key) {
      c.plot.setData(data);
      return;
    }
    if (c) c.plot.destroy();
    box.replaceChildren();
    const plot = new uPlot(Object.assign(chartSize(box), makeOpts()), data, box);
    charts[id] = { key: key, plot: plot };
  }

  function emptyChart(id, text) {
    if (charts[id]) { charts[id].plot.destroy(); delete charts[id]; }
    $(id).replaceChildren(el("div", { class: "empty", text: text }));
  }

  const intAxis = (label) => ({
    label: label, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? v : "")),
  });

  new ResizeObserver(() => {
    for (const [id, c] of Object.entries(charts)) c.plot.setSize(chartSize($(id)));
  }).observe(document.querySelector("main"));

  function drawAccuracy() {
    const metric = (state.net && state.net.metric) || { name: "score", higher_is_better: true };
    const sign = metric.higher_is_better ? 1 : -1;
    for (const n of document.querySelectorAll(".metric-name")) n.textContent = metric.name;
    $("accuracy-note").textContent =
      "Median over validators of each version's " + metric.name + " on their private validation " +
      "data, from their votes on updates trained from it; thin lines are single validators. " +
      "The newest version is scored once updates built on it are voted on.";
    const vs = state.versions.filter((v) => v && v.validation && v.validation.median !== null);
    if (!vs.length) return emptyChart("chart-accuracy", "no version scored yet");
    const voters = [...new Set(vs.flatMap((v) => Object.keys(v.validation.by_validator)))]
      .sort((a, b) => a - b);
    const xs = vs.map((v) => v.version);
    const data = [xs, vs.map((v) => sign * v.validation.median)];
    for (const k of voters) {
      data.push(vs.map((v) => (k in v.validation.by_validator ? sign * v.validation.by_validator[k] : null)));
    }
    const bounded = metric.name === "accuracy";
    drawChart("chart-accuracy", voters.join(",") + metric.name, () => ({
      scales: { x: { time: false }, y: bounded ? { range: (u, lo, hi) => [Math.max(0, Math.min(lo, 0.9) - 0.05), 1] } : {} },
      axes: [intAxis("model version"), { label: metric.name, size: 56 }],
      series: [
        { label: "version" },
        { label: "median", stroke: "#2563eb", width: 2.5, points: { size: 6 }, value: (u, v) => fmt(v, 4) },
        ...voters.map((k, i) => ({
          label: "validator " + k, stroke: PALETTE[(i + 3) % PALETTE.length] + "99", width: 1,
          dash: [4, 3], points: { show: false }, value: (u, v) => fmt(v, 4),
        })),
      ],
    }), data);
  }

  function drawTrust() {
    const vs = state.versions.filter((v) => v && v.scores && Object.keys(v.scores).length);
    if (!vs.length) return emptyChart("chart-trust", "no released version yet");
    const ids = state.trainers.length
      ? state.trainers.map((t) => t.id)
      : [...new Set(vs.flatMap((v) => Object.keys(v.scores)))].sort();
    const data = [vs.map((v) => v.version), ...ids.map((id) => vs.map((v) => (id in v.scores ? v.scores[id] : null)))];
    drawChart("chart-trust", ids.join(","), () => ({
      scales: { x: { time: false }, y: { range: (u, lo, hi) => [0, Math.max(hi, 0.05) * 1.05] } },
      axes: [intAxis("model version"), { label: "trust φ", size: 56 }],
      series: [{ label: "version" }, ...ids.map((id, i) => ({
        label: trainerName(id), stroke: PALETTE[i % PALETTE.length], width: 1.75,
        points: { size: 4 }, value: (u, v) => fmt(v, 3),
      }))],
    }), data);
  }

  function drawDecisions() {
    const vs = state.versions.filter((v) => v && v.version > 0);
    if (!vs.length) return emptyChart("chart-decisions", "no released version yet");
    // Stacked: accepted (green) drawn over accepted + rejected (red).
    const rejected = vs.map((v) => v.rejected);
    const data = [vs.map((v) => v.version), vs.map((v) => v.accepted + v.rejected), vs.map((v) => v.accepted)];
    const bars = () => uPlot.paths.bars({ size: [0.7, 24] });
    drawChart("chart-decisions", "bars", () => ({
      scales: { x: { time: false, range: (u, lo, hi) => [lo - 0.6, hi + 0.6] }, y: { range: (u, lo, hi) => [0, Math.max(hi, 1) + 0.5] } },
      axes: [intAxis("model version"), { label: "updates", size: 44, incrs: [1, 2, 5, 10, 20, 50, 100] }],
      series: [
        { label: "version" },
        { label: "rejected", fill: "#ef4444d0", stroke: "#b91c1c", width: 0, paths: bars(), points: { show: false },
          value: (u, v, si, i) => (i === null || i === undefined ? "–" : rejected[i]) },
        { label: "accepted", fill: "#22c55ed0", stroke: "#15803d", width: 0, paths: bars(), points: { show: false } },
      ],
    }), data);
  }

  // ------------------------------------------------------------------ sections

  function renderHeader() {
    const net = state.net;
    $("h-chain").textContent = net ? net.chain_id : "–";
    $("h-height").textContent = state.height ?? "–";
    const last = state.versions[state.versions.length - 1];
    $("h-version").textContent = last ? last.version : "–";
    const r = state.round;
    $("h-round").textContent = r ? r.round + " · " + r.scheme.toUpperCase() : "–";
  }

  function renderNodes() {
    const net = state.net;
    if (!net) return;
    const top = Math.max(...net.validators.map((v) => v.height || 0));
    const me = net.validators.find((v) => v.self);
    $("served-by").textContent = "served by validator " + (me ? me.index : "?") + " (" + short(net.node_id) + ")";
    fillBody("nodes", net.validators.map((v) => {
      const s = v.status;
      const st = !v.reachable ? badge("down") : (v.height ?? 0) < top - 1 ? badge("behind") : badge("up");
      const name = el("td", { class: "mono", title: v.node_id }, short(v.node_id, 8));
      if (v.self) name.append(badge("this node", "self"));
      const url = el("td", {}, v.url ? el("a", { href: v.url + "/", text: v.url }) : "–");
      return el("tr", { "data-node": v.index }, td(v.index), name, url, td(v.height ?? "–", "num"),
        td(s ? s.step + " (r" + s.round + ")" : "–"), td(s ? s.mempool : "–", "num"), el("td", {}, st));
    }));
  }

  function renderRound() {
    const r = state.round;
    if (!r) return;
    $("round-no").textContent = "#" + r.round;
    const items = [
      ["scheme", r.scheme.toUpperCase()],
      ["base version", r.base_version],
      ["deadline", el("span", { id: "countdown", text: "–" })],
      ["submitted", r.submitted + " / " + r.active_trainers],
      ["decided", r.decided],
      ["period", fmt(r.period_ms / 1000, 1) + " s"],
      ["skipped", r.skipped + " (total " + r.skipped_total + ")"],
      ["started", clock(r.started_at_ms)],
    ];
    $("round-kv").replaceChildren(...items.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", {}, v))));
    $("labour").textContent = fmt(r.labour_ratio, 2);
    $("slack").textContent = fmt(r.slack_ratio, 2);
    $("labour-bar").style.width = Math.round(100 * r.labour_ratio) + "%";
    $("slack-bar").style.width = Math.round(100 * r.slack_ratio) + "%";
    tick();
  }

  function tick() {
    const r = state.round;
    const c = $("countdown");
    if (!r || !c) return;
    if (r.deadline_ms === null) {
      c.textContent = "none (" + r.scheme.toUpperCase() + ")";
      c.title = "round ends at the latest at " + clock(r.max_end_ms);
      return;
    }
    const end = Math.max(r.deadline_ms, r.extension_until_ms || 0);
    const left = (end - Date.now()) / 1000;
    c.textContent = left > 0 ? "in " + fmt(left, 1) + " s" : "passed " + fmt(-left, 1) + " s ago";
    c.title = "deadline " + clock(end) + (r.extension_until_ms ? " (extended)" : "");
  }
  setInterval(tick, 250);

  function renderVersions() {
    const vs = state.versions.filter(Boolean);
    $("versions-count").textContent = "(" + vs.length + ")";
    const sign = state.net && state.net.metric && !state.net.metric.higher_is_better ? -1 : 1;
    fillBody("versions", vs.slice(-300).reverse().map((v) => {
      const row = el("tr", { "data-version": v.version },
        td(v.version, "num"), td(v.round, "num"), td(v.height, "num"), td(clock(v.time_ms)),
        td(v.reason || "–"), td(v.accepted, "num"), td(v.rejected, "num"), td(v.skipped, "num"),
        td(v.validation && v.validation.median !== null ? fmt(sign * v.validation.median, 4) : "–", "num"),
        el("td", { class: "mono", title: v.hash }, short(v.hash, 10)));
      if (!state.firstLoad && !state.seenVersions.has(v.version)) row.classList.add("fresh");
      state.seenVersions.add(v.version);
      return row;
    }));
  }

  function renderUpdates() {
    fillBody("updates", state.updates.map((u) => {
      const votes = el("td", {}, el("div", { class: "votes" }, ...Object.keys(u.votes).sort((a, b) => a - b).map((k) => {
        const vote = u.votes[k];
        const d = vote.score - vote.base_score;
        const measures = Object.keys(vote).sort().map((m) => m + " " + fmt(vote[m], 4)).join(", ");
        return el("span", {
          class: "vote " + (d > 0 ? "up" : d < 0 ? "down" : ""),
          title: "validator " + k + ": " + measures,
        }, "v" + k + " " + (d >= 0 ? "+" : "") + fmt(d, 4));
      })));
      if (!Object.keys(u.votes).length) votes.firstChild.append(el("span", { class: "muted", text: "no votes yet" }));
      const row = el("tr", { "data-update": u.id },
        el("td", { class: "mono", title: u.id }, short(u.id, 10)), td(trainerName(u.trainer)),
        td(u.round, "num"), td(u.base_version, "num"), td(u.height, "num"),
        el("td", { title: u.reason || "" }, badge(u.status),
          u.reason ? el("div", { class: "muted reason", text: u.reason }) : ""),
        td(fmt(u.improvement, 4), "num"), votes);
      if (!state.firstLoad && !state.seenUpdates.has(u.id)) row.classList.add("fresh");
      state.seenUpdates.add(u.id);
      return row;
    }));
  }

  // ------------------------------------------------------------------ loading

  const isFL = () => state.net && state.net.app === "fl";
  const loaders = {
    async network() { state.net = await getJSON("/v1/network"); document.body.classList.toggle("kv", !isFL()); renderNodes(); renderHeader(); },
    async status() { state.height = (await getJSON("/v1/status")).height; renderHeader(); },
    async subnets() {
      if (!isFL()) return;
      state.subnets = await getJSON("/v1/subnets");
      if (state.subnets.length && !state.subnets.some((s) => s.name === state.subnet)) state.subnet = state.subnets[0].name;
      renderSubnets();
    },
    async round() { if (!isFL()) return; state.round = await getJSON(q("/v1/round")); renderRound(); renderHeader(); },
    async trainers() { if (!isFL()) return; state.trainers = await getJSON(q("/v1/trainers")); drawTrust(); },
    async versions() {
      if (!isFL()) return;
      const since = Math.max(0, state.versions.length - 2); // the previous version's score may have arrived
      for (const v of await getJSON(q("/v1/models?since=" + since))) state.versions[v.version] = v;
      renderVersions(); renderHeader(); drawAccuracy(); drawTrust(); drawDecisions();
    },
    async updates() { if (!isFL()) return; state.updates = await getJSON(q("/v1/updates?limit=60")); renderUpdates(); },
  };
  const MIN_GAP_MS = { network: 2000, subnets: 2000, status: 300, round: 300, trainers: 0, versions: 0, updates: 400 };
  const pending = new Set();
  const lastRun = {};
  let timer = null;
  let busy = false;

  function schedule(...what) {
    for (const w of what) pending.add(w);
    if (!timer) timer = setTimeout(flush, 120);
  }

  async function flush() {
    timer = null;
    if (busy) { timer = setTimeout(flush, 120); return; }
    busy = true;
    const now = Date.now();
    const todo = [...pending].filter((w) => now - (lastRun[w] || 0) >= MIN_GAP_MS[w]);
    for (const w of todo) { pending.delete(w); lastRun[w] = now; }
    const results = await Promise.allSettled(todo.map((w) => loaders[w]()));
    const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
    banner(failed.length ? "could not load " + failed.join("; ") + " (retrying)" : "");
    if (failed.length) for (const w of todo) pending.add(w);
    busy = false;
    if (pending.size && !timer) timer = setTimeout(flush, failed.length ? 2000 : 300);
  }

  async function loadAll() {
    await loaders.network().catch((e) => banner("could not load /v1/network: " + e.message));
    await loaders.subnets().catch((e) => banner("could not load /v1/subnets: " + e.message));
    schedule("status", "round", "trainers", "versions", "updates");
  }

  $("h-subnet").addEventListener("change", (e) => {
    state.subnet = e.target.value;
    state.versions = []; state.trainers = []; state.updates = []; state.round = null;
    state.seenUpdates = new Set(); state.seenVersions = new Set();
    schedule("round", "trainers", "versions", "updates");
  });

  function setLive(on, text) {
    $("live").className = "live " + (on ? "on" : "off");
    $("live-text").textContent = text;
  }

  function connect() {
    const es = new EventSource("/v1/events");
    const count = () => { state.events += 1; document.body.dataset.events = state.events; };
    es.onopen = () => setLive(true, "live");
    es.onerror = () => setLive(false, "reconnecting");
    es.addEventListener("hello", (e) => {
      count();
      state.height = JSON.parse(e.data).height;
      renderHeader();
      if (!state.firstLoad) schedule("network", "round", "trainers", "versions", "updates");
    });
    es.addEventListener("block", (e) => {
      count();
      const b = JSON.parse(e.data);
      state.height = b.height;
      renderHeader();
      schedule("round", "network");
      if (b.txs > 0) schedule("updates");
      // version events speak of a single model; with subnetworks, poll the one shown
      if (state.subnets.length) schedule("subnets", "versions", "trainers");
    });
    es.addEventListener("version", () => { count(); schedule("versions", "trainers", "updates"); });
    es.addEventListener("resync", () => { count(); schedule("network", "status", "round", "trainers", "versions", "updates"); });
  }

  loadAll().then(() => setTimeout(() => { state.firstLoad = false; }, 1500));
  connect();
})();
