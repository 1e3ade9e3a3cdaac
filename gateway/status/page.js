// EdgeProof status page. Vanilla JS, no dependencies, nothing loaded from the internet.
// Renders the JSON API (/api/status, /api/series, /api/batches, /api/consent) with
// textContent only (never innerHTML), so no value from a device can inject markup.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return e;
}

function fmt(v, digits) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  const d = digits === undefined ? (Math.abs(v) >= 100 ? 1 : Math.abs(v) >= 1 ? 2 : 3) : digits;
  return v.toLocaleString("en-US", {maximumFractionDigits: d});
}
function bytes(n) {
  if (n === null || n === undefined) return "–";
  const u = ["B", "kB", "MB", "GB", "TB"]; let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return fmt(n, 1) + " " + u[i];
}
function ago(ts, now) {
  if (!ts) return "never";
  const s = Math.max(0, (now || Date.now() / 1000) - ts);
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}
function when(ts) { return ts ? new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "–"; }
function dur(s) {
  if (s === null || s === undefined) return "–";
  if (s < 120) return Math.round(s) + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return fmt(s / 3600, 1) + " h";
  return fmt(s / 86400, 1) + " days";
}
function badge(text, cls) { return el("span", {class: "badge " + (cls || text)}, text); }

function spark(values, opts) {
  const w = (opts && opts.w) || 160, h = (opts && opts.h) || 32, bars = opts && opts.bars;
  const svg = document.createElementNS(SVGNS, "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", h);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`); svg.setAttribute("role", "img");
  const nums = values.filter(v => typeof v === "number");
  if (!nums.length) { svg.setAttribute("aria-label", "no data yet"); return svg; }
  let lo = Math.min(...nums), hi = Math.max(...nums);
  if (bars) lo = Math.min(0, lo);
  if (hi === lo) { hi += 1; lo -= bars ? 0 : 1; }
  const x = i => values.length === 1 ? w / 2 : (i * (w - 2)) / (values.length - 1) + 1;
  const y = v => h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
  svg.setAttribute("aria-label", `${nums.length} values from ${fmt(lo)} to ${fmt(hi)}`);
  if (bars) {
    const slot = (w - 2) / Math.max(values.length, 16);
    const bw = Math.max(1, slot - 1);
    values.forEach((v, i) => {
      if (typeof v !== "number") return;
      const r = document.createElementNS(SVGNS, "rect");
      const top = y(Math.max(v, 0)), base = y(Math.min(v, 0));
      r.setAttribute("class", "bar"); r.setAttribute("x", w - 1 - (values.length - i) * slot);
      r.setAttribute("y", top); r.setAttribute("width", bw); r.setAttribute("height", Math.max(1, base - top));
      svg.append(r);
    });
    return svg;
  }
  let d = "", pen = false;
  values.forEach((v, i) => {
    if (typeof v !== "number") { pen = false; return; }
    d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(v).toFixed(1) + " "; pen = true;
  });
  const line = document.createElementNS(SVGNS, "path");
  line.setAttribute("class", "line"); line.setAttribute("d", d.trim());
  svg.append(line);
  if (nums.length === 1) {  // one value so far: a dot, not an invisible zero-length line
    const i = values.findIndex(v => typeof v === "number"), c = document.createElementNS(SVGNS, "circle");
    c.setAttribute("class", "dot"); c.setAttribute("cx", x(i)); c.setAttribute("cy", y(values[i])); c.setAttribute("r", 2);
    svg.append(c);
  }
  return svg;
}

async function getJSON(url) {
  const r = await fetch(url, {cache: "no-store", credentials: "same-origin"});
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

function tile(label, value, sub, cls) {
  return el("div", {class: "tile" + (cls ? " " + cls : ""), "data-tile": label},
    el("div", {class: "label"}, label), el("div", {class: "value"}, value), el("div", {class: "sub"}, sub || ""));
}

function renderSummary(st) {
  const devs = st.devices, ok = devs.filter(d => d.state === "healthy").length;
  const s = st.store, u = st.uplink;
  document.getElementById("site").textContent =
    `${st.site.name || st.site.id} · gateway ${st.identity.gateway_id} · up ${dur(st.uptime_s)}` +
    (st.simulate ? " · simulated devices" : "");
  document.getElementById("summary").replaceChildren(
    tile("Devices healthy", `${ok} / ${devs.length}`, devs.filter(d => d.state !== "healthy").map(d => d.name).join(", ")),
    tile("Buffer", bytes(s.size_bytes), `of ${bytes(s.max_bytes)} · full in ${s.days_until_full === null ? "–" : fmt(s.days_until_full, 1) + " days"}`),
    tile("Retention at current rate", s.history_days === null ? "–" : fmt(s.history_days, 1) + " days",
      `configured ${fmt(s.retention_days)} days · ${fmt(s.readings_per_s, 1)} readings/s`),
    tile("Uplink", u.state, u.transport + (u.last_error ? " · " + u.last_error : "")),
    tile("Last acknowledged batch", u.acked_seq ? "#" + u.acked_seq : "none", u.last_ack_at ? ago(u.last_ack_at, st.now) : "nothing acknowledged yet"),
    tile("Backlog", `${u.backlog} batches`, `newest signed #${u.head_seq} · ${s.indicators_unbatched} indicators waiting`),
    tile("Clock", st.clock.synced ? "synchronised" : "NOT synchronised", st.clock.synced ? "NTP" : "timestamps flagged in every batch"),
  );
}

function renderDevices(st, series) {
  const bySeries = {};
  for (const p of (series ? series.points : [])) bySeries[p.device + "/" + p.point] = p;
  const cards = st.devices.map(d => {
    const errs = Object.entries(d.errors || {}).map(([k, n]) => `${k} ×${n}`).join(", ");
    const rows = d.points.map(p => {
      const s = bySeries[d.name + "/" + p.name];
      return el("tr", {"data-point": p.name},
        el("td", {}, p.name, el("div", {class: "meta"}, p.meaning)),
        el("td", {class: "num"}, fmt(p.value), " ", p.unit),
        el("td", {}, p.quality ? badge(p.quality) : "–"),
        el("td", {}, s ? spark(s.v, {w: 150, h: 28}) : ""));
    });
    return el("div", {class: "card", "data-device": d.name},
      el("div", {class: "card-head"}, el("h3", {}, d.name), badge(d.state),
        d.breaker_open ? badge(`backing off, next try in ${dur(d.next_poll_in_s)}`, "stale") : null),
      el("div", {class: "meta"}, `${d.driver}${d.model ? " · " + d.model : ""} · asset ${d.asset}` +
        ` · every ${fmt(d.poll_interval_s)} s · ${d.polls} polls, ${d.failures} failed` +
        (d.latency_ms !== null ? ` · ${fmt(d.latency_ms, 1)} ms` : "") + ` · last good ${ago(d.last_ok, st.now)}`),
      d.last_error ? el("div", {class: "err"}, `last error ${ago(d.last_error_at, st.now)}: ${d.last_error}`) : null,
      errs ? el("div", {class: "err"}, "errors by kind: " + errs) : null,
      el("table", {}, el("tr", {}, el("th", {}, "point"), el("th", {}, "value"), el("th", {}, "quality"),
        el("th", {}, `last ${series ? series.minutes : 15} min`)), rows));
  });
  document.getElementById("device-list").replaceChildren(...cards);
}

function renderIndicators(series) {
  const list = series.indicators.map(s => {
    const last = s.v.length ? s.v[s.v.length - 1] : null;
    return el("div", {class: "chart", "data-indicator": s.name},
      el("div", {}, el("span", {class: "title"}, s.name), el("span", {class: "now"}, fmt(last), " ", s.unit)),
      el("div", {class: "meta"}, `${s.subject} · ${dur(s.window_s)} windows · ${s.category}`),
      spark(s.v, {w: 280, h: 48, bars: true}));
  });
  document.getElementById("indicator-list").replaceChildren(
    ...(list.length ? list : [el("p", {class: "hint"}, "No indicator window has closed yet.")]));
}

function kv(id, rows) {
  document.getElementById(id).replaceChildren(...rows.map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", {}, v instanceof Node ? v : (v === null || v === undefined ? "–" : String(v))))));
}

function renderStorage(st) {
  const s = st.store;
  kv("storage-table", [
    ["Store size", `${bytes(s.size_bytes)} of ${bytes(s.max_bytes)}`],
    ["Raw readings held (approx.)", fmt(s.readings_approx, 0)],
    ["Oldest raw reading", s.oldest_reading ? `${when(s.oldest_reading)} (${ago(s.oldest_reading, st.now)})` : "–"],
    ["Current rate", `${fmt(s.readings_per_s, 2)} readings/s · ${bytes(s.bytes_per_day)} per day`],
    ["Days until the size cap", s.days_until_full === null ? "–" : fmt(s.days_until_full, 1)],
    ["History kept at this rate", s.history_days === null ? "–" : `${fmt(s.history_days, 1)} days (retention ${fmt(s.retention_days)} days)`],
    ["Indicators waiting to be packed", s.indicators_unbatched],
    ["Indicators held back by consent", s.indicators_held],
    ["Loss counters (sent in every batch)", Object.entries(s.loss).map(([k, v]) => `${k} ${v}`).join(" · ")],
  ]);
}

function renderUplink(st) {
  const u = st.uplink;
  kv("uplink-table", [
    ["Transport", u.transport], ["Destination", u.destination || "–"], ["State", badge(u.state)],
    ["Newest signed batch", "#" + u.head_seq], ["Last acknowledged batch", u.acked_seq ? `#${u.acked_seq} (${ago(u.last_ack_at, st.now)})` : "none"],
    ["Backlog", `${u.backlog} batches`], ["Delivery attempts / failures", `${u.sent ?? 0} / ${u.failures ?? 0}`],
    ["Rejected by the receiver", Object.entries(u.rejected || {}).map(([k, v]) => `${k} ×${v}`).join(", ") || "none"],
    ["Last error", u.last_error || "none"], ["Enterprise", st.identity.enterprise_id || "not enrolled"],
    ["Signing key id", st.identity.kid], ["First-boot provisioning", provisionText(st.provision, st.now)],
  ]);
}

function provisionText(p, now) {
  if (!p) return "not provisioned from a boot-partition file";
  const steps = p.steps || [], failed = steps.filter(s => s.status === "failed");
  const ok = steps.filter(s => s.status === "ok").length;
  return `${p.status} · ${ok} of ${steps.length} steps ok` +
    (failed.length ? ` · ${failed[0].name} failed: ${failed[0].message}` : "") +
    (p.finished_at ? ` · ${ago(p.finished_at, now)}` : "");
}

function renderImports(st) {
  const im = st.imports || {connectors: [], quarantined: []};
  const body = [];
  if (!im.connectors.length) {
    body.push(el("p", {class: "hint"}, "No export has been imported."));
  } else {
    const cols = ["connector", "source", "at", "rows_ok", "rows_quarantined"];
    body.push(el("table", {id: "imports-table"}, el("tr", {}, cols.map(k => el("th", {}, k))),
      ...im.connectors.map(r => el("tr", {}, cols.map(k => el("td", {}, k === "at" ? when(r.at) : String(r[k])))))));
  }
  if (im.quarantined.length) {
    body.push(el("h3", {}, "Lines quarantined (fix them in the export)"));
    body.push(el("table", {id: "quarantine-table"}, el("tr", {}, ["connector", "source", "line", "reason"].map(k => el("th", {}, k))),
      ...im.quarantined.map(r => el("tr", {}, [r.connector, r.source, String(r.line), r.reason].map(v => el("td", {}, v))))));
  }
  document.getElementById("imports-body").replaceChildren(...body);
}

function renderConsent(c) {
  const body = [];
  const f = c.in_force;
  if (f) {
    kvInto(body, [
      ["Consent section", f.configured === false ? "none in the profile: every category may leave" : "configured"],
      ["Categories authorised now", f.allowed.length ? f.allowed.map(x => badge(x, "yes")) : badge("none", "no")],
      ["Revoked on site", f.denied.length ? f.denied.map(x => badge(x, "no")) : "none"],
      ["Authorised recipients", f.to.length ? f.to.join(", ") : "–"],
      ["Next expiry", f.until || "none"],
    ]);
  } else {
    body.push(el("p", {class: "hint"}, c.in_force_error ? "Consent could not be evaluated: " + c.in_force_error
      : "Consent is not configured on this gateway version."));
  }
  body.push(el("p", {}, "Categories that have left the site: ",
    c.categories_sent.length ? c.categories_sent.map(x => badge(x, "yes")) : "none yet"));
  const held = Object.entries(c.held || {});
  if (held.length) body.push(el("p", {}, "Held back (never sent): ", held.map(([r, n]) => `${r} ×${n}`).join(", ")));
  if (c.audit_available) {
    body.push(el("h3", {}, "Audit log (hash-chained, newest first)"));
    const cols = ["id", "time", "kind", "seq", "categories", "n_records", "acknowledged", "detail"];
    body.push(el("table", {id: "consent-audit"}, el("tr", {}, cols.map(k => el("th", {}, k))),
      c.audit.map(e => el("tr", {}, cols.map(k => el("td", {},
        Array.isArray(e[k]) ? e[k].join(", ") : (typeof e[k] === "object" && e[k] !== null ?
          (Object.keys(e[k]).length ? JSON.stringify(e[k]) : "") : (e[k] ?? ""))))))));
    if (!c.audit.length) body.push(el("p", {class: "hint"}, "No entries yet."));
  } else {
    body.push(el("p", {class: "hint"}, "The consent audit log is not available on this gateway version."));
  }
  if (c.audit_error) body.push(el("p", {class: "err"}, "Audit log error: " + c.audit_error));
  const decl = c.declarations || [];
  body.push(el("h3", {}, "Declared events (sent to the bank whatever the categories; notes stay here)"));
  if (decl.length) {
    const dcols = ["id", "action", "kind", "from", "to", "assets", "declared_at", "withdrawn_by", "signed_in_batch",
                   "note"];
    body.push(el("table", {id: "declarations"}, el("tr", {}, dcols.map(k => el("th", {}, k))),
      decl.map(e => el("tr", {}, dcols.map(k => el("td", {},
        k === "action" && e.withdraws ? `withdraws #${e.withdraws}` :
        Array.isArray(e[k]) ? (e[k].join(", ") || "whole site") : (e[k] ?? "")))))));
  } else {
    body.push(el("p", {class: "hint"}, "None. Declare with: edgeproof declare add --kind holiday --from ... --to ..."));
  }
  document.getElementById("consent-body").replaceChildren(...body);
}

function kvInto(list, rows) {
  list.push(el("table", {class: "kv"}, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
}

const openBatches = new Set();
let batchesTouched = false;
function batchRecords(recs) {
  return el("table", {}, el("tr", {}, ["record", "subject", "window start", "length", "value", "quality"].map(h => el("th", {}, h))),
    recs.map(r => el("tr", {},
      el("td", {}, r.name || r.type), el("td", {}, r.subject || ""),
      el("td", {}, r.window ? when(r.window.start) : ""), el("td", {}, r.window ? dur(r.window.len) : ""),
      el("td", {class: "num"}, fmt(r.value), " ", r.unit || ""), el("td", {}, (r.q || []).join(", ") || "ok"))));
}

function renderBatches(b) {
  const items = b.batches.map(x => {
    const recs = (x.body && x.body.records) || [];
    const holder = el("div", {class: "records"});
    const det = el("details", {"data-seq": x.seq},
      el("summary", {}, `Batch #${x.seq} · ${x.body ? x.body.created : when(x.created)} · ${x.n_records} records · ` +
        `${x.categories.join(", ")} · ${bytes(x.bytes)}`, badge(x.acknowledged ? "acknowledged" : "not yet acknowledged",
        x.acknowledged ? "yes" : "stale")),
      el("div", {class: "meta"}, `hash `, el("code", {}, x.hash), ` · key ${x.kid}` +
        (x.body ? ` · prev ${x.body.prev.slice(0, 16)}… · boot ${x.body.boot} · clock ${x.body.clock.synced ? "synced" : "NOT synced"}` +
          ` · loss ${Object.entries(x.body.loss).map(([k, v]) => k + " " + v).join(", ")}` : "")),
      x.decode_error ? el("div", {class: "err"}, x.decode_error) : null, holder);
    // Records are put in the page only when a batch is opened: a batch holds up to 500.
    const fill = () => { if (!holder.firstChild) holder.append(batchRecords(recs)); };
    // The newest batch is shown open: what left last is what staff usually want to see.
    const auto = !batchesTouched && x === b.batches[0];
    if (openBatches.has(x.seq) || auto) { det.open = true; fill(); }
    det.addEventListener("toggle", () => {
      if (auto && det.open && !det.dataset.seen) { det.dataset.seen = "1"; return; }  // our own opening
      batchesTouched = true;
      if (det.open) { openBatches.add(x.seq); fill(); } else openBatches.delete(x.seq);
    });
    return det;
  });
  document.getElementById("batch-list").replaceChildren(
    ...(items.length ? items : [el("p", {class: "hint"}, "Nothing has left the site yet.")]));
}

async function refresh(full) {
  const err = document.getElementById("error");
  try {
    const [st, series] = await Promise.all([getJSON("/api/status"), getJSON("/api/series?minutes=15")]);
    renderSummary(st); renderDevices(st, series); renderIndicators(series); renderStorage(st); renderUplink(st);
    renderImports(st);
    if (full) {
      const [c, b] = await Promise.all([getJSON("/api/consent"), getJSON("/api/batches?limit=20")]);
      renderConsent(c); renderBatches(b);
    }
    document.getElementById("footer").textContent =
      `EdgeProof ${st.version} · read-only page served by this gateway on the local network · updated ${when(st.now)}`;
    document.body.dataset.loaded = "1";
    err.hidden = true;
  } catch (e) {
    err.textContent = "Cannot reach the gateway: " + e.message; err.hidden = false;
  }
}

let tick = 0;
refresh(true);
setInterval(() => refresh(++tick % 3 === 0), 5000);
