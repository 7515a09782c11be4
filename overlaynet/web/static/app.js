// overlaynet's web view: draws the topology the server laid out, traces from the form (or
// from the URL: ?from=..&to=..&port=..), highlights the path hop by hop, lists every hop's
// steps, and draws the reach matrix. Everything the user gave is set as text, never as HTML.
// In a report the same code runs on window.OVERLAYNET_DATA instead of the server's API.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const EMBEDDED = window.OVERLAYNET_DATA || null;
let topo = null;
let centres = {};
let current = null;

function el(tag, attrs, parent, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}

function html(tag, parent, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

async function getJSON(url) {
  const r = await fetch(url);
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || ("HTTP " + r.status));
  return data;
}

function drawTopology(t) {
  const svg = document.getElementById("topology");
  svg.replaceChildren();
  svg.setAttribute("width", t.width);
  svg.setAttribute("height", t.height);
  svg.setAttribute("viewBox", `0 0 ${t.width} ${t.height}`);
  centres = {};
  const edges = el("g", {id: "edges"}, svg);
  for (const s of t.segments) {
    const g = el("g", {class: "segment", id: s.id}, svg);
    el("rect", {x: s.x, y: s.y, width: s.w, height: s.h, rx: 4}, g);
    el("text", {x: s.x + 6, y: s.y + 17}, g, `${s.name} ${s.cidr} mtu ${s.mtu}`);
    centres[s.id] = [s.x + s.w / 2, s.y + s.h / 2];
  }
  for (const r of t.routers) {
    const g = el("g", {class: "router", id: r.id}, svg);
    el("rect", {x: r.x, y: r.y, width: r.w, height: r.h, rx: 10}, g);
    el("text", {x: r.x + 10, y: r.y + 24}, g, "⇄ " + r.name);
    centres[r.id] = [r.x + r.w / 2, r.y + r.h / 2];
  }
  for (const h of t.hosts) {
    const g = el("g", {class: "host", id: h.id}, svg);
    el("rect", {x: h.x, y: h.y, width: h.w, height: h.h, rx: 6}, g);
    el("text", {x: h.x + 8, y: h.y + 16}, g, h.name);
    el("text", {x: h.x + 8, y: h.y + 31}, g, `${h.ip}  pods ${h.pod_cidrs.join(", ")}`);
    centres[h.id] = [h.x + h.w / 2, h.y + 22];
  }
  for (const p of t.pods) {
    const g = el("g", {class: "pod" + (p.ready ? "" : " notready"), id: p.id}, svg);
    el("circle", {cx: p.x, cy: p.y, r: 9}, g);
    el("title", {}, g, `${p.name}\n${p.ip}\n${Object.entries(p.labels).map(([k, v]) => k + "=" + v).join(" ")}`);
    centres[p.id] = [p.x, p.y];
  }
  for (const e of t.edges) {
    const a = centres[e.a], b = centres[e.b];
    if (a && b) el("line", {class: "edge", x1: a[0], y1: a[1], x2: b[0], y2: b[1]}, edges);
  }
  el("g", {id: "path"}, svg);
}

function fillLists(t) {
  const sources = document.getElementById("sources");
  const targets = document.getElementById("targets");
  for (const p of t.pods) {
    html("option", sources).value = p.name;
    html("option", targets).value = p.name;
  }
  for (const h of t.hosts) html("option", sources).value = h.name;
  for (const s of t.services) {
    for (const port of s.ports) {
      const short = s.name.startsWith("default/") ? s.name.slice(8) : s.name.replace("/", ".");
      html("option", targets).value = `${short}:${port.port}`;
      html("option", targets).value = `${s.name}:${port.port}`;
    }
  }
}

function clearPath() {
  document.querySelectorAll(".on-path").forEach(e => e.classList.remove("on-path"));
  const g = document.getElementById("path");
  if (g) g.replaceChildren();
}

function drawBranch(b) {
  clearPath();
  const g = document.getElementById("path");
  b.links.forEach((l, i) => {
    const a = centres[l.from], c = centres[l.to];
    if (!a || !c || l.from === l.to) return;
    const off = (i % 3) * 4;
    let d = `M${a[0] + off},${a[1] + off}`;
    const seg = l.via && centres[l.via];
    if (seg) d += ` L${a[0] + off},${seg[1] + off} L${c[0] + off},${seg[1] + off}`;  // along the segment's bar
    d += ` L${c[0] + off},${c[1] + off}`;
    el("path", {class: "link-" + l.layer, d: d, "data-layer": l.layer}, g);
  });
  b.hops.forEach(h => {
    const node = document.getElementById(h.id);
    if (node) node.classList.add("on-path");
    const c = centres[h.id];
    if (!c) return;
    let dy = -30;
    for (const m of h.marks) {
      const step = h.steps.find(s => s.kind === m) || {summary: m};
      const label = m === "encap" ? "⊕ " + step.summary : m === "decap" ? "⊖ " + step.summary : "✖ " + (h.drop || step.summary);
      const mg = el("g", {class: "mark " + m}, g);
      el("text", {x: c[0] - 40, y: c[1] + dy}, mg, label.length > 40 ? label.slice(0, 38) + "…" : label);
      el("title", {}, mg, label);
      dy -= 14;
    }
    if (h.drop && !h.marks.includes("drop")) {
      const mg = el("g", {class: "mark drop"}, g);
      el("text", {x: c[0] - 40, y: c[1] + dy}, mg, "✖ " + h.drop.slice(0, 60));
      el("title", {}, mg, h.drop);
    }
  });
  const hops = document.getElementById("hops");
  hops.replaceChildren();
  b.hops.forEach((h, i) => {
    const d = html("div", hops, undefined, "hop");
    d.dataset.id = h.id;
    html("h3", d, `${i + 1}. ${h.host} ${h.namespace}`);
    const ol = html("ol", d);
    // a hook's netfilter rules fold into one line, opened on demand
    let fold = null;
    for (const s of h.steps) {
      if (s.kind === "netfilter") {
        if (!fold) {
          const li = html("li", ol, undefined, "netfilter");
          fold = html("details", li);
          fold.summaryEl = html("summary", fold);
          fold.count = 0;
          fold.list = html("ol", fold);
        }
        fold.count += 1;
        fold.summaryEl.textContent = `netfilter: ${fold.count} rule${fold.count > 1 ? "s" : ""}`;
        html("li", fold.list, s.summary, "netfilter");
        continue;
      }
      fold = null;
      html("li", ol, `${s.kind}: ${s.summary}`, s.kind);
    }
  });
  const v = document.getElementById("verdict");
  v.textContent = `${b.disposition} (p=${b.probability}): ${b.reason}`;
  v.className = b.success ? "ok" : "bad";
  document.body.dataset.traceHops = b.path.join(" ");
  document.body.dataset.traceLayers = b.links.map(l => l.layer).join(" ");
  document.body.dataset.disposition = b.disposition;
}

function showTrace(view) {
  current = view;
  const box = document.getElementById("branches");
  box.replaceChildren();
  if (view.branches.length > 1) {
    html("div", box, `${view.branches.length} branches (kube-proxy's choices):`);
    view.branches.forEach((b, i) => {
      const btn = html("button", box, `${i + 1}: p=${b.probability} ${b.disposition} → ${b.path[b.path.length - 1]}`);
      btn.type = "button";
      btn.onclick = () => { box.querySelectorAll("button").forEach(x => x.classList.remove("chosen")); btn.classList.add("chosen"); drawBranch(b); };
      if (i === 0) btn.classList.add("chosen");
    });
  }
  drawBranch(view.branches[0]);
  document.body.dataset.branches = String(view.branches.length);
  document.body.dataset.state = "traced";
}

function showError(message) {
  clearPath();
  const v = document.getElementById("verdict");
  v.textContent = message;
  v.className = "bad";
  document.body.dataset.state = "error";
}

function params() {
  const f = id => document.getElementById(id);
  const q = new URLSearchParams();
  q.set("from", f("f-from").value.trim());
  q.set("to", f("f-to").value.trim());
  if (f("f-port").value) q.set("port", f("f-port").value);
  q.set("proto", f("f-proto").value);
  q.set("size", f("f-size").value || "64");
  if (f("f-df").checked) q.set("df", "1");
  if (f("f-all").checked) q.set("all", "1");
  return q;
}

async function runTrace() {
  const q = params();
  if (EMBEDDED) {
    const key = `${q.get("from")} ${q.get("to")}`;
    const found = (EMBEDDED.traces || []).find(t => t.key === key);
    return found ? showTrace(found.view) : showError(`this report holds no trace ${key}`);
  }
  document.body.dataset.state = "tracing";
  try { showTrace(await getJSON("api/trace?" + q.toString())); }
  catch (e) { showError(e.message); }
}

function drawReach(r) {
  const box = document.getElementById("reach");
  box.replaceChildren();
  html("h2", box, `Reach matrix: ${r.pods.length} pods, ${r.classes} classes (row → column; green allowed)`);
  const cell = r.pods.length > 60 ? 6 : 16, left = 180, topPad = 10;
  const svg = el("svg", {width: left + cell * r.pods.length + 10, height: topPad + cell * r.pods.length + 10}, box);
  r.pods.forEach((name, i) => {
    if (cell >= 12) el("text", {x: 2, y: topPad + i * cell + cell - 4}, svg, name.length > 28 ? name.slice(0, 27) + "…" : name);
    r.allowed[i].forEach((ok, j) => {
      const rect = el("rect", {x: left + j * cell, y: topPad + i * cell, width: cell - 1, height: cell - 1,
                               class: ok ? "cell-yes" : "cell-no"}, svg);
      el("title", {}, rect, `${name} → ${r.pods[j]}: ${ok ? "allowed" : "denied"}`);
    });
  });
  document.body.dataset.reach = String(r.pods.length);
}

async function showReach() {
  if (EMBEDDED) { if (EMBEDDED.reach) drawReach(EMBEDDED.reach); return; }
  try { drawReach(await getJSON("api/reach" + (document.getElementById("f-port").value ? "?port=" + document.getElementById("f-port").value : ""))); }
  catch (e) { showError(e.message); }
}

function reportExtras(data) {
  const extra = document.getElementById("extra");
  if (data.traces && data.traces.length) {
    html("h3", extra, "Traces in this report");
    for (const t of data.traces) {
      const b = html("button", extra, t.key);
      b.type = "button";
      b.onclick = () => { document.getElementById("f-from").value = t.from; document.getElementById("f-to").value = t.to; showTrace(t.view); };
    }
  }
  if (data.overhead_png) {
    html("h3", extra, "Encapsulation overhead");
    const img = html("img", extra);
    img.src = "data:image/png;base64," + data.overhead_png;
    img.alt = "overhead per driver mode";
    img.style.maxWidth = "100%";
  }
}

async function main() {
  try {
    topo = EMBEDDED ? EMBEDDED.topology : await getJSON("api/topology");
  } catch (e) { showError("cannot load the topology: " + e.message); return; }
  document.getElementById("title").textContent = `${topo.name} (${topo.driver})`;
  drawTopology(topo);
  fillLists(topo);
  document.getElementById("trace-form").addEventListener("submit", ev => { ev.preventDefault(); runTrace(); });
  document.getElementById("f-reach").addEventListener("click", showReach);
  document.body.dataset.state = "ready";
  if (EMBEDDED) {
    reportExtras(EMBEDDED);
    if (EMBEDDED.reach) drawReach(EMBEDDED.reach);
    if (EMBEDDED.traces && EMBEDDED.traces.length) {
      const t = EMBEDDED.traces[0];
      document.getElementById("f-from").value = t.from;
      document.getElementById("f-to").value = t.to;
      showTrace(t.view);
    }
    return;
  }
  const q = new URLSearchParams(location.search);
  if (q.get("from") && q.get("to")) {
    for (const [k, id] of [["from", "f-from"], ["to", "f-to"], ["port", "f-port"], ["size", "f-size"]]) {
      if (q.get(k)) document.getElementById(id).value = q.get(k);
    }
    if (q.get("proto")) document.getElementById("f-proto").value = q.get("proto");
    document.getElementById("f-df").checked = q.get("df") === "1";
    document.getElementById("f-all").checked = q.get("all") === "1";
    await runTrace();
  }
  if (q.get("reach") === "1") await showReach();
}

main();
