// EdgeProof status page. Vanilla JS, no dependencies, nothing loaded from the internet.
// Renders the JSON API (/api/status, /api/series, /api/batches, /api/consent) with
// textContent only (never innerHTML), so no value from a device can inject markup.
// Every string shown goes through _(msgid, params) with {name} placeholders (docs/i18n.md); the catalog of the
// page's language (<html lang>, chosen by the server) comes from /api/i18n as JSON.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const LANG = document.documentElement.lang || "en";
const NUMBER_LOCALE = LANG === "zh-CN" ? "zh-CN" : "en-US";
let CATALOG = {};

function _(msg, params) {
  let s = CATALOG[msg] || msg;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  return s;
}

// An error the gateway sends as data ({t: template, p: {name: value or nested}}, gateway.i18n.as_data): each
// template is a message of the gateway's catalog, so it reads in the page's language; a plain string as it is.
function msgText(m) {
  if (!m || typeof m !== "object" || typeof m.t !== "string") return m == null ? "" : String(m);
  const params = {};
  for (const [k, v] of Object.entries(m.p || {})) params[k] = msgText(v);
  return _(m.t, params);
}

function uplinkError(u) {
  return u.last_error_text ? msgText(u.last_error_text) : u.last_error;
}

// State and quality codes come from the gateway as data; this is how each reads.
function codeText(code) {
  const t = {
    good: _("good"), stale: _("stale"), comm_error: _("comm_error"), out_of_range: _("out_of_range"),
    healthy: _("healthy"), unhealthy: _("unhealthy"), idle: _("idle"), backoff: _("backoff"),
    starting: _("starting"), sending: _("sending"), rejected: _("rejected"), stopped: _("stopped"),
    none: _("none"), acknowledged: _("acknowledged"), "not yet acknowledged": _("not yet acknowledged"),
    // indicator categories (consent is given per category)
    energy: _("energy"), machine: _("machine"), env: _("env"), water: _("water"), gas: _("gas"),
    collateral: _("collateral"), vision: _("vision"), data_quality: _("data_quality"), mes: _("mes"), erp: _("erp"),
    consent: _("consent"), declaration: _("declaration"), dispute: _("dispute"), confirmation: _("confirmation"),
    health: _("health"), decommission: _("decommission"),
    // disputes, the banks' decisions on them and the warning levels the bank is served
    contest: _("contest"), explain: _("explain"), confirm: _("confirm"), accepted: _("accepted"),
    maintenance: _("maintenance"), stocktake: _("stocktake"), holiday: _("holiday"), other: _("other"),
    open: _("open"), mixed: _("mixed"), green: _("green"), yellow: _("yellow"), orange: _("orange"), red: _("red"),
    info: _("info"), warning: _("warning"), critical: _("critical"), bank: _("bank"), operator: _("operator"),
  };
  return t[code] || code;
}

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
  return v.toLocaleString(NUMBER_LOCALE, {maximumFractionDigits: d});
}
function bytes(n) {
  if (n === null || n === undefined) return "–";
  const u = ["B", "kB", "MB", "GB", "TB"]; let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return fmt(n, 1) + " " + u[i];
}
function ago(ts, now) {
  if (!ts) return _("never");
  const s = Math.max(0, (now || Date.now() / 1000) - ts);
  if (s < 90) return _("{n} s ago", {n: Math.round(s)});
  if (s < 5400) return _("{n} min ago", {n: Math.round(s / 60)});
  if (s < 172800) return _("{n} h ago", {n: Math.round(s / 3600)});
  return _("{n} days ago", {n: Math.round(s / 86400)});
}
function when(ts) { return ts ? new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "–"; }
function dur(s) {
  if (s === null || s === undefined) return "–";
  if (s < 120) return _("{n} s", {n: Math.round(s)});
  if (s < 7200) return _("{n} min", {n: Math.round(s / 60)});
  if (s < 172800) return _("{n} h", {n: fmt(s / 3600, 1)});
  return _("{n} days", {n: fmt(s / 86400, 1)});
}
// Not inside another _() call's arguments: Babel's JavaScript extractor does not see nested calls.
function clockText(synced) { return synced ? _("synced") : _("NOT synced"); }
// A badge shows a code (quality, state) in the page's language; its class stays the code.
// "energy.voltage_l1_v" may break after a dot, not inside a word (the cell is narrow on a phone).
function dotted(text) {
  return String(text || "").split(".").flatMap((part, i) => i ? [".", document.createElement("wbr"), part] : [part]);
}
function badge(text, cls) { return el("span", {class: "badge " + (cls || text)}, codeText(text)); }

function spark(values, opts) {
  const w = (opts && opts.w) || 160, h = (opts && opts.h) || 32, bars = opts && opts.bars;
  const svg = document.createElementNS(SVGNS, "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", h);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`); svg.setAttribute("role", "img");
  const nums = values.filter(v => typeof v === "number");
  if (!nums.length) { svg.setAttribute("aria-label", _("no data yet")); return svg; }
  let lo = Math.min(...nums), hi = Math.max(...nums);
  if (bars) lo = Math.min(0, lo);
  if (hi === lo) { hi += 1; lo -= bars ? 0 : 1; }
  const x = i => values.length === 1 ? w / 2 : (i * (w - 2)) / (values.length - 1) + 1;
  const y = v => h - 2 - ((v - lo) / (hi - lo)) * (h - 4);
  svg.setAttribute("aria-label", _("{n} values from {lo} to {hi}", {n: nums.length, lo: fmt(lo), hi: fmt(hi)}));
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

// ``key`` is the tile's stable (English) name for scripts and tests; ``label`` what people read.
function tile(key, label, value, sub, cls) {
  return el("div", {class: "tile" + (cls ? " " + cls : ""), "data-tile": key},
    el("div", {class: "label"}, label), el("div", {class: "value"}, value), el("div", {class: "sub"}, sub || ""));
}

function renderSummary(st) {
  const devs = st.devices, ok = devs.filter(d => d.state === "healthy").length;
  const s = st.store, u = st.uplink;
  document.getElementById("site").textContent =
    _("{site} · gateway {gateway} · up {uptime}", {site: st.site.name || st.site.id, gateway: st.identity.gateway_id,
      uptime: dur(st.uptime_s)}) + (st.simulate ? " · " + _("simulated devices") : "");
  const days = v => v === null ? "–" : _("{n} days", {n: fmt(v, 1)});
  document.getElementById("summary").replaceChildren(
    tile("Devices healthy", _("Devices healthy"), `${ok} / ${devs.length}`,
      devs.filter(d => d.state !== "healthy").map(d => d.name).join(", ")),
    tile("Buffer", _("Buffer"), bytes(s.size_bytes),
      _("of {max} · full in {days}", {max: bytes(s.max_bytes), days: days(s.days_until_full)})),
    tile("Retention at current rate", _("Retention at current rate"), days(s.history_days),
      _("configured {days} days · {rate} readings/s", {days: fmt(s.retention_days), rate: fmt(s.readings_per_s, 1)})),
    tile("Uplink", _("Uplink"), codeText(u.state), u.transport + (u.last_error ? " · " + uplinkError(u) : "")),
    tile("Last acknowledged batch", _("Last acknowledged batch"), u.acked_seq ? "#" + u.acked_seq : _("none"),
      u.last_ack_at ? ago(u.last_ack_at, st.now) : _("nothing acknowledged yet")),
    tile("Backlog", _("Backlog"), _("{n} batches", {n: u.backlog}),
      _("newest signed #{seq} · {n} indicators waiting", {seq: u.head_seq, n: s.indicators_unbatched})),
    tile("Clock", _("Clock"), st.clock.synced ? _("synchronised") : _("NOT synchronised"),
      st.clock.synced ? "NTP" : _("timestamps flagged in every batch")),
  );
}

function renderDevices(st, series) {
  const bySeries = {};
  for (const p of (series ? series.points : [])) bySeries[p.device + "/" + p.point] = p;
  const cards = st.devices.map(d => {
    const errs = Object.entries(d.errors || {}).map(([k, n]) => `${_(k)} ×${n}`).join(", ");  // kinds: drivers/messages.py
    const rows = d.points.map(p => {
      const s = bySeries[d.name + "/" + p.name];
      return el("tr", {"data-point": p.name},
        el("td", {class: "pname"}, el("span", {class: "name"}, p.name), el("div", {class: "meta"}, dotted(p.meaning))),
        el("td", {class: "num"}, fmt(p.value), " ", p.unit),
        el("td", {}, p.quality ? badge(p.quality) : "–"),
        el("td", {class: "sparkcell"}, s ? spark(s.v, {w: 150, h: 28}) : ""));
    });
    return el("div", {class: "card", "data-device": d.name},
      el("div", {class: "card-head"}, el("h3", {}, d.name), badge(d.state),
        d.breaker_open ? el("span", {class: "badge stale"},
          _("backing off, next try in {t}", {t: dur(d.next_poll_in_s)})) : null),
      el("div", {class: "meta"}, `${d.driver}${d.model ? " · " + d.model : ""} · ` +
        _("asset {asset} · every {s} s · {polls} polls, {failed} failed",
          {asset: d.asset, s: fmt(d.poll_interval_s), polls: d.polls, failed: d.failures}) +
        (d.latency_ms !== null ? ` · ${fmt(d.latency_ms, 1)} ms` : "") + " · " +
        _("last good {ago}", {ago: ago(d.last_ok, st.now)})),
      d.last_error ? el("div", {class: "err"},
        _("last error {ago}: {error}", {ago: ago(d.last_error_at, st.now),
                                         error: d.last_error_text ? msgText(d.last_error_text) : d.last_error})) : null,
      errs ? el("div", {class: "err"}, _("errors by kind: {errors}", {errors: errs})) : null,
      el("table", {class: "points"}, el("tr", {}, el("th", {}, _("point")), el("th", {}, _("value")),
        el("th", {}, _("quality")), el("th", {class: "sparkcell"}, _("last {n} min", {n: series ? series.minutes : 15}))),
        rows));
  });
  document.getElementById("device-list").replaceChildren(...cards);
}

function renderIndicators(series) {
  const list = series.indicators.map(s => {
    const last = s.v.length ? s.v[s.v.length - 1] : null;
    return el("div", {class: "chart", "data-indicator": s.name},
      el("div", {}, el("span", {class: "title"}, s.name), el("span", {class: "now"}, fmt(last), " ", s.unit)),
      el("div", {class: "meta"}, _("{subject} · {window} windows · {category}",
        {subject: s.subject, window: dur(s.window_s), category: codeText(s.category)})),
      spark(s.v, {w: 280, h: 48, bars: true}));
  });
  document.getElementById("indicator-list").replaceChildren(
    ...(list.length ? list : [el("p", {class: "hint"}, _("No indicator window has closed yet."))]));
}

function kv(id, rows) {
  document.getElementById(id).replaceChildren(...rows.map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", {}, v instanceof Node ? v : (v === null || v === undefined ? "–" : String(v))))));
}

function renderStorage(st) {
  const s = st.store;
  kv("storage-table", [
    [_("Store size"), _("{size} of {max}", {size: bytes(s.size_bytes), max: bytes(s.max_bytes)})],
    [_("Raw readings held (approx.)"), fmt(s.readings_approx, 0)],
    [_("Oldest raw reading"), s.oldest_reading ? `${when(s.oldest_reading)} (${ago(s.oldest_reading, st.now)})` : "–"],
    [_("Current rate"), _("{rate} readings/s · {bytes} per day", {rate: fmt(s.readings_per_s, 2), bytes: bytes(s.bytes_per_day)})],
    [_("Days until the size cap"), s.days_until_full === null ? "–" : fmt(s.days_until_full, 1)],
    [_("History kept at this rate"), s.history_days === null ? "–" : _("{days} days (retention {retention} days)",
      {days: fmt(s.history_days, 1), retention: fmt(s.retention_days)})],
    [_("Indicators waiting to be packed"), s.indicators_unbatched],
    [_("Indicators held back by consent"), s.indicators_held],
    [_("Loss counters (sent in every batch)"), Object.entries(s.loss).map(([k, v]) => `${k} ${v}`).join(" · ")],
  ]);
}

function renderUplink(st) {
  const u = st.uplink;
  kv("uplink-table", [
    [_("Transport"), u.transport], [_("Destination"), u.destination || "–"], [_("State"), badge(u.state)],
    [_("Newest signed batch"), "#" + u.head_seq],
    [_("Last acknowledged batch"), u.acked_seq ? `#${u.acked_seq} (${ago(u.last_ack_at, st.now)})` : _("none")],
    [_("Backlog"), _("{n} batches", {n: u.backlog})],
    [_("Delivery attempts / failures"), `${u.sent ?? 0} / ${u.failures ?? 0}`],
    [_("Rejected by the receiver"), Object.entries(u.rejected || {}).map(([k, v]) => `${k} ×${v}`).join(", ") || _("none")],
    [_("Last error"), u.last_error ? uplinkError(u) : _("none")], [_("Enterprise"), st.identity.enterprise_id || _("not enrolled")],
    [_("Signing key id"), st.identity.kid], [_("First-boot provisioning"), provisionText(st.provision, st.now)],
  ]);
}

function provisionText(p, now) {
  if (!p) return _("not provisioned from a boot-partition file");
  const steps = p.steps || [], failed = steps.filter(s => s.status === "failed");
  const ok = steps.filter(s => s.status === "ok").length;
  return codeText(p.status) + " · " + _("{ok} of {n} steps ok", {ok: ok, n: steps.length}) +
    (failed.length ? " · " + _("{step} failed: {message}", {step: failed[0].name,
                                      message: failed[0].message_text ? msgText(failed[0].message_text) : failed[0].message}) : "") +
    (p.finished_at ? ` · ${ago(p.finished_at, now)}` : "");
}

function renderImports(st) {
  const im = st.imports || {connectors: [], quarantined: []};
  const body = [];
  if (!im.connectors.length) {
    body.push(el("p", {class: "hint"}, _("No export has been imported.")));
  } else {
    const cols = ["connector", "source", "at", "rows_ok", "rows_quarantined"];
    body.push(scroll(el("table", {id: "imports-table"}, el("tr", {}, cols.map(k => el("th", {}, colText(k)))),
      ...im.connectors.map(r => el("tr", {}, cols.map(k => el("td", {}, k === "at" ? when(r.at) : String(r[k]))))))));
  }
  if (im.quarantined.length) {
    body.push(el("h3", {}, _("Lines quarantined (fix them in the export)")));
    body.push(scroll(el("table", {id: "quarantine-table"},
      el("tr", {}, ["connector", "source", "line", "reason"].map(k => el("th", {}, colText(k)))),
      ...im.quarantined.map(r => el("tr", {}, [r.connector, r.source, String(r.line),
        r.reason_text ? msgText(r.reason_text) : r.reason].map(v => el("td", {}, v)))))));
  }
  document.getElementById("imports-body").replaceChildren(...body);
}

function renderConsent(c) {
  const body = [];
  const f = c.in_force;
  if (f) {
    kvInto(body, [
      [_("Consent section"), f.configured === false ? _("none in the profile: every category may leave") : _("configured")],
      [_("Categories authorised now"), f.allowed.length ? f.allowed.map(x => badge(x, "yes")) : badge("none", "no")],
      [_("Revoked on site"), f.denied.length ? f.denied.map(x => badge(x, "no")) : _("none")],
      [_("Authorised recipients"), f.to.length ? f.to.join(", ") : "–"],
      [_("Next expiry"), f.until || _("none")],
    ]);
  } else {
    body.push(c.in_force_error
      ? el("p", {class: "err"}, _("Consent could not be evaluated (what may leave is unknown): {error}",
                                  {error: c.in_force_error}))
      : el("p", {class: "hint"}, _("Consent is not configured on this gateway version.")));
  }
  body.push(el("p", {}, _("Categories that have left the site:"), " ",
    c.categories_sent.length ? c.categories_sent.map(x => badge(x, "yes")) : _("none yet")));
  const held = Object.entries(c.held || {});
  if (held.length) body.push(el("p", {}, _("Held back (never sent):"), " ", held.map(([r, n]) => `${r} ×${n}`).join(", ")));
  if (c.audit_available) {
    body.push(el("h3", {}, _("Audit log (hash-chained, newest first)")));
    const cols = ["id", "time", "kind", "seq", "categories", "n_records", "acknowledged", "detail"];
    body.push(scroll(el("table", {id: "consent-audit"}, el("tr", {}, cols.map(k => el("th", {}, colText(k)))),
      c.audit.map(e => el("tr", {}, cols.map(k => el("td", {},
        Array.isArray(e[k]) ? e[k].join(", ") : (typeof e[k] === "object" && e[k] !== null ?
          (Object.keys(e[k]).length ? JSON.stringify(e[k]) : "") : (e[k] ?? "")))))))));
    if (!c.audit.length) body.push(el("p", {class: "hint"}, _("No entries yet.")));
  } else {
    body.push(el("p", {class: "hint"}, _("The consent audit log is not available on this gateway version.")));
  }
  if (c.audit_error) body.push(el("p", {class: "err"}, _("Audit log error: {error}", {error: c.audit_error})));
  const decl = c.declarations || [];
  body.push(el("h3", {}, _("Declared events (sent to the bank whatever the categories; notes stay here)")));
  if (decl.length) {
    const dcols = ["id", "action", "kind", "from", "to", "assets", "declared_at", "withdrawn_by", "signed_in_batch",
                   "note"];
    body.push(scroll(el("table", {id: "declarations"}, el("tr", {}, dcols.map(k => el("th", {}, colText(k)))),
      decl.map(e => el("tr", {}, dcols.map(k => el("td", {},
        k === "action" && e.withdraws ? _("withdraws #{id}", {id: e.withdraws}) :
        Array.isArray(e[k]) ? (e[k].join(", ") || _("whole site")) : (e[k] ?? ""))))))));
  } else {
    body.push(el("p", {class: "hint"}, _("None. Declare with:") + " edgeproof declare add --kind holiday --from ... --to ..."));
  }
  document.getElementById("consent-body").replaceChildren(...body);
}

function kvInto(list, rows) {
  list.push(scroll(el("table", {class: "kv"}, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))))));
}

// A wide table scrolls inside its own box on a narrow screen instead of widening the page.
function scroll(table) { return el("div", {class: "scroll"}, table); }

// Column names of the data tables: the keys stay in the JSON API, people read these.
function colText(k) {
  const t = {
    connector: _("connector"), source: _("source"), at: _("at"), rows_ok: _("rows accepted"),
    rows_quarantined: _("rows quarantined"), line: _("line"), reason: _("reason"), id: _("id"), time: _("time"),
    kind: _("kind"), seq: _("seq"), categories: _("categories"), n_records: _("records"),
    acknowledged: _("acknowledged"), detail: _("detail"), action: _("action"), from: _("from"), to: _("to"),
    assets: _("assets"), declared_at: _("declared at"), withdrawn_by: _("withdrawn by"),
    signed_in_batch: _("signed in batch"), note: _("note"),
  };
  return t[k] || k;
}

const openBatches = new Set();
let batchesTouched = false;
function batchRecords(recs) {
  return scroll(el("table", {}, el("tr", {}, [_("record"), _("subject"), _("window start"), _("length"), _("value"),
    _("quality")].map(h => el("th", {}, h))),
    recs.map(r => el("tr", {},
      el("td", {}, r.name || r.type), el("td", {}, r.subject || ""),
      el("td", {}, r.window ? when(r.window.start) : ""), el("td", {}, r.window ? dur(r.window.len) : ""),
      el("td", {class: "num"}, fmt(r.value), " ", r.unit || ""), el("td", {}, (r.q || []).join(", ") || "ok")))));
}

function renderBatches(b) {
  const items = b.batches.map(x => {
    const recs = (x.body && x.body.records) || [];
    const holder = el("div", {class: "records"});
    const det = el("details", {"data-seq": x.seq},
      el("summary", {}, _("Batch #{seq} · {created} · {n} records · {categories} · {size}",
        {seq: x.seq, created: x.body ? x.body.created : when(x.created), n: x.n_records,
         categories: x.categories.map(codeText).join(", "), size: bytes(x.bytes)}),
        badge(x.acknowledged ? "acknowledged" : "not yet acknowledged", x.acknowledged ? "yes" : "stale")),
      el("div", {class: "meta"}, _("hash") + " ", el("code", {}, x.hash), " · " + _("key {kid}", {kid: x.kid}) +
        (x.body ? " · " + _("prev {prev}… · boot {boot} · clock {clock}", {prev: x.body.prev.slice(0, 16),
          boot: x.body.boot, clock: clockText(x.body.clock.synced)}) +
          " · " + _("loss {loss}", {loss: Object.entries(x.body.loss).map(([k, v]) => k + " " + v).join(", ")}) : "")),
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
    ...(items.length ? items : [el("p", {class: "hint"}, _("Nothing has left the site yet."))]));
}

// -- What the bank sees (GET /api/enterprise; actions POST JSON, behind the page's password) --------
async function postJSON(url, obj) {
  const r = await fetch(url, {method: "POST", cache: "no-store", credentials: "same-origin",
                              headers: {"Content-Type": "application/json"}, body: JSON.stringify(obj || {})});
  let out = {};
  try { out = await r.json(); } catch (e) { out = {message: `HTTP ${r.status}`}; }
  document.getElementById("action-result").textContent =
    out.message_text ? msgText(out.message_text) : out.message || (r.ok ? _("done") : `HTTP ${r.status}`);
  if (r.ok) renderEnterprise(await getJSON("/api/enterprise"));
  return r.ok;
}

function decisionsText(ds) {
  if (!ds || !ds.length) return _("open: no bank has decided yet");
  return ds.map(d => `${d.bank}: ${codeText(d.decision)}` + (d.reason ? ` (${d.reason})` : "")).join("; ");
}

function renderEnterprise(v) {
  const body = [];
  if (!v.fetched_at) {
    body.push(el("p", {class: "hint"}, _("Not fetched yet: the gateway fetches it every few minutes once enrolled.")));
  } else {
    const s = v.score || {};
    body.push(el("p", {id: "bank-score"},
      s.score === undefined || s.score === null ? _("No score computed yet.") :
        _("Score {score} points, grade {grade}; warning level {level}",
          {score: fmt(s.score, 0), grade: s.grade, level: codeText(v.warning_level)}) +
        (v.warning_text ? ` (${_(v.warning_text)})` : "") + ". " + _("Fetched {time}.", {time: v.fetched_at})));
    if (v.reasons.length) {
      body.push(el("ul", {id: "bank-reasons"}, v.reasons.map(r =>
        el("li", {}, `${r.code}: ${r.text} ` + _("({points} points lost)", {points: fmt(r.points_lost, 1)})))));
    }
    const rows = v.findings.map(f => el("tr", {"data-finding": f.hash},
      el("td", {}, "#" + f.id), el("td", {}, badge(f.severity)), el("td", {}, f.kind),
      el("td", {}, f.message || ""), el("td", {class: "numbers"}, f.numbers || ""),
      el("td", {}, v.actions_enabled ? el("button", {type: "button", "data-dispute": f.hash, "data-id": f.id},
                                          _("Contest or explain")) : "")));
    body.push(rows.length ? el("table", {id: "bank-findings"},
      el("tr", {}, [_("Finding"), _("Severity"), _("Rule"), _("What"), _("Numbers"), ""].map(k => el("th", {}, k))), rows)
      : el("p", {class: "hint"}, _("No findings.")));
  }
  document.getElementById("bank-view-body").replaceChildren(...body);
  for (const b of document.querySelectorAll("button[data-dispute]")) {
    b.addEventListener("click", () => {
      const form = document.getElementById("dispute-form");
      document.getElementById("dispute-finding").value = b.dataset.dispute;
      form.dataset.findingId = b.dataset.id; form.hidden = false;
      document.getElementById("dispute-note").focus();
    });
  }
  const ds = v.disputes.map(d => el("li", {"data-dispute-id": d.id},
    d.action === "confirm" ? _("#{id} confirmation of the measures in force, {time}", {id: d.id, time: d.made_at}) :
      _("#{id} {action} of finding #{finding}, {time}", {id: d.id, time: d.made_at, finding: d.finding_id || "?",
        action: codeText(d.action) + (d.reason ? " (" + codeText(d.reason) + ")" : "")}) +
      `: ${decisionsText(d.decisions)}` + (d.note ? " · " + _("note: {note}", {note: d.note}) : ""),
    d.signed_in_batch === null ? " · " + _("not yet signed") :
      " · " + _("signed in batch {batch}", {batch: d.signed_in_batch})));
  document.getElementById("disputes-body").replaceChildren(
    ds.length ? el("ul", {id: "dispute-list"}, ds) : el("p", {class: "hint"}, _("None yet.")));
  document.getElementById("confirm-button").hidden = !v.actions_enabled;
  document.getElementById("view-refresh").hidden = !v.actions_enabled;
  // Who read this enterprise's data in the last 30 days (the receiver's hash-chained access log).
  const log = v.access_log;
  document.getElementById("access-log-body").replaceChildren(log === null || log === undefined ?
    el("p", {class: "hint", id: "access-log-placeholder"}, _("Not yet available from the bank's receiver.")) :
    !log.length ? el("p", {class: "hint"}, _("Nobody has read this enterprise's data in the last 30 days.")) :
    el("ul", {id: "access-log-list"}, log.map(a => el("li", {},
      _("{time}: {who} {actor} read {path}", {time: a.time, who: codeText(a.actor_kind), actor: a.actor_id,
                                               path: a.path || a.method || "?"})))));
  document.getElementById("complaint-contact").textContent =
    v.complaint_contact ? _("Questions or complaints about how your data is used: {contact}",
                           {contact: v.complaint_contact}) : "";
}

function wireActions() {
  const form = document.getElementById("dispute-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const id = parseInt(form.dataset.findingId, 10);
    const ok = await postJSON("/api/disputes", {
      finding: document.getElementById("dispute-finding").value, kind: document.getElementById("dispute-kind").value,
      reason: document.getElementById("dispute-reason").value || null,
      note: document.getElementById("dispute-note").value, finding_id: Number.isFinite(id) ? id : null});
    if (ok) form.hidden = true;
  });
  document.getElementById("confirm-button").addEventListener("click", () => postJSON("/api/confirm", {}));
  document.getElementById("view-refresh").addEventListener("click", () => postJSON("/api/enterprise/refresh", {}));
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
      renderEnterprise(await getJSON("/api/enterprise"));
    }
    document.getElementById("footer").textContent =
      _("EdgeProof {version} · read-only page served by this gateway on the local network · updated {time}",
        {version: st.version, time: when(st.now)});
    document.body.dataset.loaded = "1";
    err.hidden = true;
  } catch (e) {
    err.textContent = _("Cannot reach the gateway: {error}", {error: e.message}); err.hidden = false;
  }
}

// The catalog first (a page in English needs none), then the data; a missing catalog leaves English.
async function start() {
  if (LANG !== "en") {
    try { CATALOG = (await getJSON("/api/i18n?lang=" + encodeURIComponent(LANG))).messages || {}; } catch (e) { CATALOG = {}; }
  }
  let tick = 0;
  wireActions();
  refresh(true);
  setInterval(() => refresh(++tick % 3 === 0), 5000);
}
start();
