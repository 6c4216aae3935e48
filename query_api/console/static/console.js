// Offload console: fetches the API's JSON every few seconds and draws tables and SVG charts.
// The API key is kept in this tab's sessionStorage and sent as X-API-Key (never in a URL).
"use strict";
(function () {
  const KEY = "offload.console.key";
  const REFRESH_MS = 3000;
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let openLeg = null;

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function row(cells) {
    const tr = el("tr");
    for (const c of cells) {
      if (c instanceof Node) { const td = el("td"); td.appendChild(c); tr.appendChild(td); }
      else tr.appendChild(el("td", c === null || c === undefined ? "-" : c));
    }
    return tr;
  }

  function fill(tableId, rows) {
    const body = $(tableId).querySelector("tbody");
    body.replaceChildren(...rows);
  }

  async function api(path, options) {
    const key = sessionStorage.getItem(KEY);
    const init = Object.assign({ headers: {} }, options || {});
    init.headers["X-API-Key"] = key || "";
    const response = await fetch(path, init);
    if (response.status === 401) { showLogin("that key is not valid"); throw new Error("401"); }
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { status: response.status, body: body };
  }

  function showLogin(message) {
    sessionStorage.removeItem(KEY);
    if (timer) { clearInterval(timer); timer = null; }
    if (streamAbort) { streamAbort.abort(); streamAbort = null; }
    $("main").hidden = true; $("login").hidden = false; $("logout").hidden = true;
    $("login-error").textContent = message || "";
  }

  // --- charts ------------------------------------------------------------------------------
  function chart(svgId, points, names, opts) {
    const svg = $(svgId);
    const w = svg.viewBox.baseVal.width, h = svg.viewBox.baseVal.height, pad = 18;
    const xs = points.map((p) => p.t);
    let lo = opts && opts.lo !== undefined ? opts.lo : 0, hi = 0;
    for (const p of points) for (const n of names) if (p[n] !== null && p[n] !== undefined) {
      hi = Math.max(hi, p[n]); lo = Math.min(lo, p[n]);
    }
    if (opts && opts.band) { hi = Math.max(hi, opts.band[1]); lo = Math.min(lo, opts.band[0]); }
    if (hi === lo) hi = lo + 1;
    const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
    const X = (t) => pad + (w - 2 * pad) * (t - x0) / (x1 - x0);
    const Y = (v) => h - pad - (h - 2 * pad) * (v - lo) / (hi - lo);
    const parts = [];
    if (opts && opts.band) {
      const [a, b] = opts.band;
      parts.push(`<rect class="band" x="${pad}" y="${Y(b)}" width="${w - 2 * pad}" height="${Y(a) - Y(b)}"></rect>`);
    }
    names.forEach((n, i) => {
      const coords = points.filter((p) => p[n] !== null && p[n] !== undefined)
        .map((p) => `${X(p.t).toFixed(1)},${Y(p[n]).toFixed(1)}`);
      if (coords.length) parts.push(`<polyline class="s${i} series" data-series="${n}" data-points="${coords.length}" points="${coords.join(" ")}"></polyline>`);
    });
    for (const p of (opts && opts.marks) || []) {
      parts.push(`<circle class="excursion" cx="${X(p.t).toFixed(1)}" cy="${Y(p.v).toFixed(1)}" r="2.5"></circle>`);
    }
    parts.push(`<text x="2" y="10">${hi.toPrecision(3)}</text><text x="2" y="${h - 4}">${lo.toPrecision(3)}</text>`);
    if (points.length) {
      const clock = (t) => new Date(t * 1000).toISOString().slice(11, 19);
      parts.push(`<text x="${pad + 30}" y="${h - 4}">${clock(x0)}</text><text x="${w - pad - 50}" y="${h - 4}">${clock(x1)} UTC</text>`);
    }
    svg.innerHTML = parts.join("");
  }

  // --- sections ------------------------------------------------------------------------------
  async function loadParts() {
    const { body } = await api("/console/api/parts");
    const lag = body.projection || {};
    $("parts-note").textContent = body.supervisor
      ? `supervisor: offload ${body.supervisor} (${body.supervisor_running ? "running" : "not running"}); page served by worker pid ${body.served_by}; head LSN ${body.head ? body.head.lsn : "-"}`
      : `no supervisor state file under the data dir; page served by pid ${body.served_by}`;
    fill("parts", body.parts.map((p) => {
      const isProjection = p.name === "projection";
      const tr = row([p.name, el("span", p.state, "state-" + p.state), p.pid, p.restarts,
        p.last_exit_code, isProjection ? lag.lag_lsn : null,
        isProjection && lag.lag_seconds !== null ? lag.lag_seconds.toFixed(2) : null]);
      tr.dataset.part = p.name;
      return tr;
    }));
  }

  async function loadHistory() {
    const { body } = await api("/console/api/history");
    const pts = body.points || [];
    chart("chart-events", pts, ["applied_events_s", "captured_lsn_s"]);
    chart("chart-freshness", pts, ["freshness_p50_s", "freshness_p99_s"]);
    chart("chart-requests", pts, ["requests_s"]);
    chart("chart-latency", pts, ["latency_mean_ms", "latency_p99_ms"]);
    chart("chart-errors", pts, ["errors"]);
  }

  async function legsPage(compliant) {
    const { body } = await api(`/cold-chain/legs?compliant=${compliant}&page_size=25`);
    return (body && body.items) || [];
  }

  async function loadLegs() {
    const legs = (await legsPage(false)).concat(await legsPage(true));
    fill("legs", legs.map((l) => {
      const ok = l.compliant;
      const tr = row([l.order_id, l.container_id, l.voyage_id, l.product_id,
        `${l.temp_min} .. ${l.temp_max}`, l.min_temperature, l.max_temperature, l.excursions,
        el("span", ok === null ? "unknown" : ok ? "yes" : "NO", ok === false ? "bad" : "good")]);
      tr.className = "leg";
      tr.dataset.leg = `${l.order_id}|${l.container_id}|${l.voyage_id}`;
      tr.addEventListener("click", () => { openLeg = l; drawLeg(); });
      return tr;
    }));
  }

  function plusOneSecond(ts) {
    return new Date(Date.parse(ts + "Z") + 1000).toISOString().replace("Z", "");
  }

  async function drawLeg() {
    const l = openLeg;
    if (!l) return;
    let path = `/containers/${encodeURIComponent(l.container_id)}/telemetry?page_size=500&from=${encodeURIComponent(l.loaded_at)}`;
    if (l.discharged_at) path += `&to=${encodeURIComponent(plusOneSecond(l.discharged_at))}`;
    let readings = [], cursor = null;
    for (let i = 0; i < 20; i++) {
      const { body } = await api(path + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
      readings = readings.concat((body && body.items) || []);
      cursor = body && body.next_cursor;
      if (!cursor) break;
    }
    const lo = Number(l.temp_min), hi = Number(l.temp_max);
    const pts = readings.map((r) => ({ t: Date.parse(r.reading_ts + "Z") / 1000, temperature: Number(r.temperature) }));
    const marks = pts.filter((p) => p.temperature < lo || p.temperature > hi).map((p) => ({ t: p.t, v: p.temperature }));
    $("leg-title").textContent = `order ${l.order_id}, container ${l.container_id}, voyage ${l.voyage_id}: ${pts.length} readings, ${marks.length} outside ${l.temp_min} .. ${l.temp_max}`;
    $("leg-detail").hidden = false;
    chart("leg-chart", pts, ["temperature"], { band: [lo, hi], marks: marks, lo: Math.min(lo, ...pts.map((p) => p.temperature)) });
  }

  async function replay(id) {
    const { status, body } = await api(`/console/api/errors/${id}/replay`, { method: "POST" });
    const out = $("replay-result");
    out.className = status === 200 ? "good" : "error";
    out.textContent = status === 200
      ? `entry ${id}: ${body.outcome}${body.reason ? " (" + body.reason + ")" : ""}`
      : `entry ${id}: refused (${status}): ${body && body.detail}`;
    await loadErrors();
  }

  async function loadErrors() {
    const { body } = await api("/console/api/errors");
    $("dlq").textContent = body.dlq_topic ? `(dead-letter topic ${body.dlq_topic})` : "";
    fill("errors", body.errors.map((e) => {
      const button = el("button", "Replay");
      button.type = "button"; button.dataset.entry = e.id; button.disabled = e.status !== "open";
      button.addEventListener("click", () => replay(e.id));
      const tr = row([e.id, e.status, e.kind, e.source_table, e.key, e.reason, e.dlq_sent ? "sent" : "pending", button]);
      tr.dataset.entry = e.id;
      return tr;
    }));
  }

  async function loadSchemas() {
    const { body } = await api("/console/api/schemas");
    const rows = [];
    for (const s of (body && body.subjects) || []) for (const v of s.versions) {
      rows.push(row([s.subject, v.version, v.id, v.changes.length ? v.changes.join("; ") : (v.version === 1 ? "first version" : "no field changes")]));
    }
    fill("schemas", rows);
  }

  // --- live alerts ----------------------------------------------------------------------------
  // GET /cold-chain/alerts (query_api/routes_stream.py): server-sent events, read with fetch
  // because EventSource cannot send the X-API-Key header. Resumes after the last event id
  // (Last-Event-ID) on reconnect, so no alert is lost or shown twice.
  const ALERT_STREAM = "/cold-chain/alerts";
  let streamAbort = null;

  function showAlert(alert) {
    const key = alert.key || {};
    const leg = alert.leg || {};
    const bad = alert.kind === "non_compliant";
    const text = `${bad ? "NON-COMPLIANT" : alert.kind}: order ${key.order_id}, container ${key.container_id}, voyage ${key.voyage_id}`
      + (leg.max_temperature !== undefined ? ` (min ${leg.min_temperature}, max ${leg.max_temperature}, range ${leg.temp_min} .. ${leg.temp_max})` : "");
    const li = el("li", `${new Date().toLocaleTimeString()} ${text}`, bad ? "alert-noncompliant" : "alert-recovered");
    li.dataset.order = key.order_id; li.dataset.kind = alert.kind;
    $("alerts").prepend(li);
  }

  function onEvent(type, data) {
    if (type === "alerts") { for (const a of data.alerts || []) showAlert(a); loadLegs().catch(() => {}); }
    else if (type === "subscribed" || type === "heartbeat") $("alerts-note").textContent = `live: listening after LSN ${data.lsn}`;
    else if (type === "unavailable") $("alerts-note").textContent = `waiting for the projection writer: ${data.detail}`;
    else if (type === "error") $("alerts-note").textContent = `stream ended: ${data.detail}`;
  }

  async function readStream(abort, last) {
    const headers = { "X-API-Key": sessionStorage.getItem(KEY) || "", Accept: "text/event-stream" };
    if (last.id) headers["Last-Event-ID"] = last.id;
    const response = await fetch(ALERT_STREAM, { headers: headers, signal: abort.signal });
    if (response.status === 404) { $("alerts-note").textContent = "this gateway has no alert stream; non-compliant legs show below"; return false; }
    if (response.status === 410) { last.id = null; return true; }  // compacted: start from now
    if (!response.ok) return true;
    const reader = response.body.getReader(); const decoder = new TextDecoder(); let buffer = "";
    for (;;) {
      const { value, done } = await reader.read(); if (done) return true;
      buffer += decoder.decode(value, { stream: true }).replace(/\r/g, "");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const lines = buffer.slice(0, cut).split("\n"); buffer = buffer.slice(cut + 2);
        let type = "message", data = "";
        for (const line of lines) {
          if (line.startsWith("event:")) type = line.slice(6).trim();
          else if (line.startsWith("id:")) last.id = line.slice(3).trim();
          else if (line.startsWith("data:")) data += line.slice(5);
        }
        if (data) onEvent(type, JSON.parse(data));
      }
    }
  }

  async function streamAlerts() {
    const abort = new AbortController(); streamAbort = abort;
    const last = { id: null };
    while (!abort.signal.aborted) {
      let again = true;
      try { again = await readStream(abort, last); } catch (e) { again = !abort.signal.aborted; }
      if (!again) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  // --- refresh ----------------------------------------------------------------------------------
  let tick = 0;
  async function refresh() {
    const jobs = [loadParts(), loadHistory(), loadErrors(), loadLegs()];
    if (tick++ % 10 === 0) jobs.push(loadSchemas());
    if (openLeg) jobs.push(drawLeg());
    const results = await Promise.allSettled(jobs);
    const failed = results.filter((r) => r.status === "rejected").length;
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}${failed ? ` (${failed} sections failed)` : ""}`;
  }

  function start() {
    $("login").hidden = true; $("main").hidden = false; $("logout").hidden = false;
    refresh();
    timer = setInterval(refresh, REFRESH_MS);
    streamAlerts();
  }

  $("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("key").value);
    $("key").value = "";
    const { status } = await api("/console/api/parts").catch(() => ({ status: 401 }));
    if (status === 200) start();
  });
  $("logout").addEventListener("click", () => showLogin(""));
  if (sessionStorage.getItem(KEY)) start();
})();
