// Sd3Mesh dashboard: plain JavaScript, no library. Live through server-sent events (/api/events): "cluster" draws the
// silos, their devices and the grains inside them; "jobs" the list of jobs, "job" one job that changed in it. Text
// from the server goes in through textContent only (prompts are user input).
"use strict";

const state = {
  clockOffset: 0,          // server time minus page time, ms
  jobs: new Map(),         // id -> job view
  cards: new Map(),        // id -> card element (kept, so a click is never lost to a redraw)
  selected: null,          // the job whose timeline is shown
  pinned: false,           // the user picked it (else the newest job with a timeline is followed)
  timelineKey: null,       // what the drawn timeline was drawn from
  timelineLoadedAt: 0,     // when it was last asked for (a running job's is asked at most once a second)
  timelineTimer: null,
  updates: 0,              // "jobs" events received (tests read it: progress arrives without a reload)
};

// ---- small helpers ----
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
const svgNs = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(svgNs, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}
function bytes(n) {
  if (!n) return "0 B";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n >= 100 || i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}
function seconds(s) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  if (s < 1) return `${(s * 1000).toFixed(0)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
function ms(v) { return v >= 100 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`; }
const serverNow = () => Date.now() + state.clockOffset;
const since = iso => iso ? (serverNow() - Date.parse(iso)) / 1000 : null;
function showMessage(text) {
  const m = document.getElementById("message");
  m.textContent = text;
  m.hidden = false;
  clearTimeout(showMessage.timer);
  showMessage.timer = setTimeout(() => { m.hidden = true; }, 6000);
}

// ---- the cluster: silos hold device boxes, device boxes hold grains ----
function renderCluster(c) {
  document.getElementById("cluster-name").textContent = c.name;
  document.title = `Sd3Mesh · ${c.name}`;
  const root = document.getElementById("silos");
  const silos = c.silos.map(s => {
    const devices = c.devices.filter(d => d.silo === s.id);
    const uptime = s.startedAt && s.status === "active" ? ` · up ${seconds(since(s.startedAt))}` : "";
    return el("div", { class: "silo", "data-silo": s.id, "data-status": s.status },
      el("div", { class: "silo-head" },
        el("span", { class: "silo-name", text: `silo ${s.id}` }),
        el("span", { class: `state ${s.status === "active" ? "active" : s.status === "joining" ? "joining" : "dead"}`, text: s.status }),
        s.primary ? el("span", { class: "silo-meta", text: "primary" }) : null,
        el("span", { class: "silo-meta mono", text: s.address }),
        el("span", { class: "silo-meta", text: `v${s.version.replace(/\+(.{7}).*/, "+$1")}${uptime}` })),
      el("div", { class: "devices" }, ...(devices.length ? devices.map(renderDevice) : [el("p", { class: "empty", text: "no devices" })])));
  });
  // Devices no configured silo owns (a silo missing from the view) still show.
  const orphans = c.devices.filter(d => !c.silos.some(s => s.id === d.silo));
  if (orphans.length) silos.push(el("div", { class: "silo" }, el("div", { class: "devices" }, ...orphans.map(renderDevice))));
  root.replaceChildren(...silos);
}

function renderDevice(d) {
  const limit = d.budgetBytes || d.totalBytes;
  const share = limit ? Math.min(100, 100 * d.weightsLoadedBytes / limit) : 0;
  const fill = el("div", { class: "fill" });
  fill.style.width = `${share.toFixed(1)}%`; // through the style object: the page's CSP allows no inline style attribute
  const memory = el("div", { class: "memory" },
    el("div", { class: "bar", title: "weights loaded / budget" }, fill),
    el("span", { text: `weights ${bytes(d.weightsLoadedBytes)}${d.budgetBytes ? " of a budget of " + bytes(d.budgetBytes) : " (no budget set)"}` +
      (d.totalBytes ? ` · memory ${d.usedBytes ? bytes(d.usedBytes) + " used of " : ""}${bytes(d.totalBytes)}` : "") +
      (d.evictions ? ` · ${d.evictions} evictions` : "") }));
  return el("div", { class: "device", "data-device": d.name, "data-silo": d.silo },
    el("div", { class: "device-head" },
      el("span", { class: "device-name", text: d.name }),
      el("span", { class: "device-kind", text: d.kind })),
    el("div", { class: "device-desc", text: d.description, title: d.description }),
    memory,
    el("div", { class: "grains" }, ...(d.grains.length ? d.grains.map(g => renderGrain(g, d)) : [el("span", { class: "empty", text: "no grains" })])));
}

function renderGrain(g, device) {
  if (g.kind === "coordinator") {
    return el("a", {
      class: "grain coordinator", href: "#", "data-grain": "coordinator", "data-job": g.jobId, "data-activated-on": g.activatedOn,
      title: `${g.key} (activated on silo ${g.activatedOn})`, onclick: e => { e.preventDefault(); selectJob(g.jobId, true); },
    },
    el("span", { class: "grain-name", text: "coordinator" }),
    el("span", { class: "stats mono", text: `job ${g.jobId}` }));
  }
  const stats = g.calls ? `${g.calls} calls · mean ${ms(g.meanMs)} · p95 ${ms(g.p95Ms)}` : "no calls yet";
  const moved = g.activatedOn && g.activatedOn !== device.silo ? el("span", { class: "moved", text: `activated on ${g.activatedOn}, not ${device.silo}` }) : null;
  return el("div", {
      class: "grain", "data-grain": g.name, "data-submodule": g.name, "data-state": g.state, "data-activated-on": g.activatedOn,
      title: `${g.key}\n${g.activatedOn ? "activation on silo " + g.activatedOn : "not activated"}` +
        (g.loads ? `\nloaded ${g.loads}× (last load ${ms(g.loadMs)})` : ""),
    },
    el("span", { class: "grain-name", text: g.name }),
    el("span", { class: `state ${g.state}`, text: g.state }),
    el("span", { class: "stats", text: `weights ${bytes(g.weightBytes)}` }),
    el("span", { class: "stats", text: stats }),
    moved,
    g.lastError ? el("span", { class: "error", text: g.lastError }) : null);
}

// ---- jobs ----
function renderJobs(picture) {
  state.updates++;
  document.body.dataset.updates = state.updates;
  state.clockOffset = Date.parse(picture.now) - Date.now();
  const root = document.getElementById("jobs");
  const ids = new Set(picture.jobs.map(j => j.id));
  for (const [id, card] of state.cards) if (!ids.has(id)) { card.remove(); state.cards.delete(id); }
  state.jobs = new Map(picture.jobs.map(j => [j.id, j]));
  const cards = picture.jobs.map(j => {
    let card = state.cards.get(j.id);
    if (!card) { card = createCard(j.id); state.cards.set(j.id, card); }
    updateCard(card, j);
    return card;
  });
  if (cards.length) root.replaceChildren(...cards);
  else root.replaceChildren(el("p", { class: "empty", text: "no jobs yet" }));
  followTimeline();
}

// One job changed within the list (a step, a stage, a preview).
function renderJob(update) {
  state.updates++;
  document.body.dataset.updates = state.updates;
  state.clockOffset = Date.parse(update.now) - Date.now();
  const j = update.job;
  state.jobs.set(j.id, j);
  const card = state.cards.get(j.id);
  if (card) updateCard(card, j);
  followTimeline();
}

function createCard(id) {
  const f = {
    state: el("span", { class: "state" }),
    id: el("code", { text: id }),
    meta: el("span", { class: "job-meta" }),
    prompt: el("p", { class: "prompt" }),
    progress: el("div", { class: "progress" }),
    fill: el("div", { class: "fill" }),
    progressText: el("span", { class: "progress-text" }),
    times: el("div", { class: "times" }),
    detail: el("div", { class: "detail" }),
    error: el("div", { class: "error-text" }),
    pictures: el("div", { class: "pictures" }),
    preview: el("img", { class: "preview", alt: "latest step preview", hidden: true }),
    thumbs: el("div", { class: "thumbs" }),
    cancel: el("button", { class: "cancel", type: "button", text: "Cancel" }),
    timeline: el("button", { class: "show-timeline", type: "button", text: "Timeline" }),
  };
  f.progress.append(el("div", { class: "bar" }, f.fill), f.progressText);
  f.pictures.append(f.preview, f.thumbs);
  f.cancel.addEventListener("click", () => cancelJob(id, f.cancel));
  f.timeline.addEventListener("click", () => selectJob(id, true));
  const card = el("article", { class: "job", "data-job": id },
    el("div", { class: "job-head" }, f.state, f.id, f.meta),
    f.prompt, f.progress, f.times, f.detail, f.error, f.pictures,
    el("div", { class: "actions" }, f.cancel, f.timeline));
  card.fields = f;
  return card;
}

function updateCard(card, j) {
  const f = card.fields;
  card.dataset.state = j.state;
  card.dataset.step = j.step;
  card.dataset.totalSteps = j.totalSteps;
  card.classList.toggle("selected", state.selected === j.id);
  f.state.className = `state ${j.state}`;
  f.state.textContent = j.state;
  f.meta.textContent = `${j.width}×${j.height} · ${j.steps} steps · seed ${j.seeds.join(", ")}`;
  f.prompt.textContent = j.prompt;
  f.prompt.title = j.negativePrompt ? `negative: ${j.negativePrompt}` : "";

  const live = j.state === "running" || j.state === "queued";
  f.progress.hidden = j.state !== "running";
  const done = j.totalSteps ? j.step / j.totalSteps : 0;
  f.fill.style.width = `${(100 * done).toFixed(1)}%`;
  f.progressText.textContent = j.state === "running"
    ? (j.stage === "denoise" || j.step ? `${j.stage || "starting"} · step ${j.step} of ${j.totalSteps}` : (j.stage || "starting"))
    : "";
  f.detail.textContent = j.state === "queued" ? `queued, position ${j.queuePosition}` :
    j.state === "cancelled" ? (j.cancelReason || "cancelled") : "";
  f.error.textContent = j.error ? `${j.error.status} (${j.error.code}): ${j.error.message}` : "";
  f.error.hidden = !j.error;
  f.cancel.hidden = !live;
  f.timeline.hidden = j.spans === 0;
  updateTimes(card, j);

  // The newest preview while running; the results once finished. An image's element is kept while its URL is.
  const previewUrl = j.state === "running" ? j.previewUrl : null;
  if (previewUrl && f.preview.getAttribute("src") !== previewUrl) f.preview.src = previewUrl;
  f.preview.hidden = !previewUrl;
  if (previewUrl) f.preview.dataset.step = j.previewStep;
  const thumbs = j.images.filter(i => i.mediaType === "image/png" && !i.evicted);
  const key = thumbs.map(i => i.id).join(",");
  if (f.thumbs.dataset.key !== key) {
    f.thumbs.dataset.key = key;
    f.thumbs.replaceChildren(...thumbs.map(i => el("a", { href: i.url, target: "_blank", title: `${i.width}×${i.height}, seed ${i.seed}, ${bytes(i.sizeBytes)}` },
      el("img", { class: "thumb", src: i.url, alt: `result, seed ${i.seed}`, loading: "lazy" }))));
  }
}

function updateTimes(card, j) {
  const f = card.fields;
  let text = "";
  if (j.state === "queued") text = `waiting ${seconds(since(j.createdAt))}`;
  else if (j.state === "running") {
    text = `elapsed ${seconds(since(j.startedAt))}`;
    if (j.etaSeconds !== null && j.lastStepAt) text += ` · ETA ${seconds(Math.max(0, j.etaSeconds - since(j.lastStepAt)))}`;
    if (j.stepSeconds) text += ` · ${ms(j.stepSeconds * 1000)} per step`;
  } else if (j.startedAt && j.finishedAt) {
    text = `${j.state === "succeeded" ? "took" : "ran"} ${seconds((Date.parse(j.finishedAt) - Date.parse(j.startedAt)) / 1000)}`;
    if (j.stepSeconds) text += ` · ${ms(j.stepSeconds * 1000)} per step`;
  }
  f.times.textContent = text;
}

async function cancelJob(id, button) {
  button.disabled = true;
  try {
    const r = await fetch(`/api/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    const body = await r.json();
    if (!r.ok) showMessage(body.error || `cancel failed: HTTP ${r.status}`);
    else if (!body.cancelled) showMessage(`job ${id} had already ended (${body.state})`);
  } catch (e) {
    showMessage(`cancel failed: ${e}`);
  } finally {
    button.disabled = false;
  }
}

// ---- the timeline of one job ----
function selectJob(id, pinned) {
  state.selected = id;
  state.pinned = pinned || state.pinned;
  state.timelineKey = null;
  state.timelineLoadedAt = 0;
  for (const [cid, card] of state.cards) card.classList.toggle("selected", cid === id);
  followTimeline();
}

// Follows the newest job with spans unless the user picked one; redraws when its spans or state change.
function followTimeline() {
  if (!state.pinned) {
    const newest = [...state.jobs.values()].filter(j => j.spans > 0).sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0];
    if (newest && newest.id !== state.selected) { state.selected = newest.id; state.timelineKey = null; state.timelineLoadedAt = 0; }
  }
  const job = state.jobs.get(state.selected);
  if (!job) return;
  const key = `${job.id}:${job.spans}:${job.state}`;
  if (key === state.timelineKey) return;
  const wait = job.state === "running" ? 1000 - (Date.now() - state.timelineLoadedAt) : 0;
  if (wait > 0) {
    state.timelineTimer ??= setTimeout(() => { state.timelineTimer = null; followTimeline(); }, wait);
    return;
  }
  state.timelineKey = key;
  state.timelineLoadedAt = Date.now();
  for (const [cid, card] of state.cards) card.classList.toggle("selected", cid === job.id);
  loadTimeline(job, key);
}

async function loadTimeline(job, key) {
  try {
    const r = await fetch(job.timelineUrl);
    if (!r.ok) return;
    const timeline = await r.json();
    if (state.timelineKey !== key) return; // a newer one is on its way
    drawTimeline(job, timeline);
  } catch (e) { /* the next update tries again */ }
}

const laneOrder = ["coordinator", "text_encoder", "text_encoder_2", "text_encoder_3", "transformer", "vae"];
function laneRank(lane) {
  const i = laneOrder.indexOf(lane.split("@")[0]);
  return i >= 0 ? i : lane.startsWith("transfers") ? laneOrder.length + 1 : laneOrder.length;
}

function drawTimeline(job, timeline) {
  const section = document.getElementById("timeline-section");
  section.hidden = false;
  document.getElementById("timeline-title").textContent = `job ${job.id} · ${timeline.spans.length} spans` +
    (timeline.dropped ? ` (${timeline.dropped} dropped)` : "");
  const download = document.getElementById("trace-download");
  download.href = job.traceUrl;
  download.setAttribute("download", `sd3mesh-job-${job.id}.trace.json`);
  const root = document.getElementById("timeline");
  if (!timeline.spans.length) { root.replaceChildren(el("p", { class: "empty", text: "no spans yet" })); return; }

  // Rows: a lane's overlapping spans (a prompt and its negative encoded at once) each get a row of their own.
  const laneNames = [...new Set(timeline.spans.map(s => s.lane))].sort((a, b) => laneRank(a) - laneRank(b) || a.localeCompare(b));
  const placed = [], rowsOf = new Map(laneNames.map(l => [l, []]));
  for (const s of [...timeline.spans].sort((a, b) => a.start - b.start || b.duration - a.duration)) {
    const ends = rowsOf.get(s.lane);
    let row = ends.findIndex(end => end <= s.start);
    if (row < 0) { row = ends.length; ends.push(0); }
    ends[row] = s.start + s.duration;
    placed.push({ s, row });
  }
  const lanes = laneNames.flatMap(l => rowsOf.get(l).map((_, row) => ({ lane: l, row })));
  const laneIndex = (lane, row) => lanes.findIndex(x => x.lane === lane && x.row === row);
  const start = Math.min(...timeline.spans.map(s => s.start));
  const end = Math.max(...timeline.spans.map(s => s.start + s.duration));
  const span = Math.max(1, end - start);
  const labelWidth = 190, laneHeight = 22, top = 18;
  const width = Math.max(720, root.clientWidth || 900), plot = width - labelWidth - 10;
  const x = t => labelWidth + (t - start) / span * plot;
  const height = top + lanes.length * laneHeight + 4;
  const drawing = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `timeline of job ${job.id}` });

  // Ticks: about eight, at round milliseconds.
  const raw = span / 8 / 1000, magnitude = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 0.001))));
  const step = [1, 2, 5, 10].map(m => m * magnitude).find(v => v >= raw) * 1000;
  for (let t = 0; t <= span; t += step) {
    drawing.append(svg("line", { class: "tick", x1: x(start + t), x2: x(start + t), y1: top - 4, y2: height }));
    drawing.append(svg("text", { class: "tick-label", x: x(start + t) + 2, y: 11 }, seconds(t / 1e6)));
  }
  lanes.forEach(({ lane, row }, i) => {
    const y = top + i * laneHeight;
    drawing.append(svg("rect", { class: "lane-bg", x: labelWidth, y, width: plot, height: laneHeight - 3 }));
    if (row === 0) drawing.append(svg("text", { class: "lane-label", x: 4, y: y + 14 }, lane));
  });
  for (const { s, row } of placed) {
    const y = top + laneIndex(s.lane, row) * laneHeight;
    const w = Math.max(1, x(s.start + s.duration) - x(s.start));
    const submodule = s.lane.split("@")[0];
    const cls = `span ${s.kind}${s.error ? " failed" : ""}`;
    const rect = svg("rect", {
      class: cls, x: x(s.start), y: y + 1, width: w, height: laneHeight - 5, rx: 2,
      "data-name": s.name, "data-lane": s.lane, "data-step": s.step,
    });
    if (s.kind === "call" && !s.error) rect.style.fill = `var(--${laneOrder.includes(submodule) ? submodule : "coordinator"})`;
    const label = s.step ? `${s.name} ${s.step}` : s.name;
    rect.append(svg("title", {}, `${label} on ${s.lane} (silo ${s.silo}): ${ms(s.duration / 1000)}` +
      (s.bytes ? `, ${bytes(s.bytes)}` : "") + (s.detail ? `\n${s.detail}` : "") + (s.error ? `\nfailed: ${s.error}` : "")));
    drawing.append(rect);
    const text = s.step ? String(s.step) : s.name;
    if (w > text.length * 6 + 4) {
      drawing.append(svg("text", { class: `span-label${s.kind === "stage" ? " dark" : ""}`, x: x(s.start) + 3, y: y + 13 }, text));
    }
  }
  root.replaceChildren(drawing);
}

// ---- live updates ----
function connect() {
  const connection = document.getElementById("connection");
  const set = (s, text) => { connection.dataset.state = s; connection.textContent = text; };
  const source = new EventSource("/api/events");
  source.addEventListener("open", () => set("live", "live"));
  source.addEventListener("error", () => set("reconnecting", "reconnecting…")); // EventSource retries by itself
  source.addEventListener("jobs", e => renderJobs(JSON.parse(e.data)));
  source.addEventListener("job", e => renderJob(JSON.parse(e.data)));
  source.addEventListener("cluster", e => renderCluster(JSON.parse(e.data)));
  window.addEventListener("beforeunload", () => source.close());
}

document.addEventListener("DOMContentLoaded", () => {
  connect();
  // Elapsed times and ETAs tick between updates.
  setInterval(() => { for (const [id, card] of state.cards) { const j = state.jobs.get(id); if (j) updateTimes(card, j); } }, 1000);
});
