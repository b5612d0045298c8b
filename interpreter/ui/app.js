// The notebook view: the sandboxes (/ui/) and one sandbox live (/ui/sandboxes/{id}), over the
// native API. The session cookie authenticates; changes carry X-Interpreter-UI (see deps.py).
// Results' HTML is shown only in sandboxed frames served with a CSP of their own.

const main = document.getElementById("main");
const crumb = document.getElementById("crumb");
const LANGUAGES = ["python", "javascript", "typescript", "bash", "r", "java"];
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]/g;
// A link shared read-only (/ui/share/...): the cells live, and no control.
const SHARED = new URLSearchParams(location.search).get("view") === "shared";

class Unauthorized extends Error {}

async function api(method, path, body, raw = false) {
  const headers = { "X-Interpreter-UI": "1" };
  let payload = body;
  if (body !== undefined && !(body instanceof Blob) && !(body instanceof ArrayBuffer)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(`/v1${path}`, { method, headers, body: payload, credentials: "same-origin" });
  if (response.status === 401) throw new Unauthorized();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error.message; } catch {}
    throw new Error(message);
  }
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }
function bytes(n) { return n < 1 << 20 ? `${(n / 1024).toFixed(0)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`; }
function seconds(cell) {
  if (!cell.ended_at) return "running…";
  return `${((new Date(cell.ended_at) - new Date(cell.started_at)) / 1000).toFixed(2)} s`;
}

function signIn() {
  const form = document.getElementById("key-form").content.cloneNode(true);
  if (new URLSearchParams(location.search).get("error") === "key") form.querySelector("[data-slot=error]").hidden = false;
  const next = location.pathname.startsWith("/ui/") ? location.pathname : "/ui/";
  form.querySelector("form").action = `/ui/session?next=${encodeURIComponent(next)}`;
  main.replaceChildren(form);
}

// -- the list of sandboxes ---------------------------------------------------------------
async function listPage() {
  crumb.textContent = "Sandboxes";
  const sandboxes = await api("GET", "/sandboxes");
  const rows = sandboxes.map((s) => el("tr", {},
    el("td", {}, el("a", { href: `/ui/sandboxes/${s.id}` }, s.id)),
    el("td", {}, s.template),
    el("td", {}, el("span", { class: `state ${s.state}` }, s.state)),
    el("td", {}, when(s.created_at)),
    el("td", {}, when(s.expires_at)),
    el("td", { class: "muted" }, Object.entries(s.metadata).map(([k, v]) => `${k}=${v}`).join(" "))));
  main.replaceChildren(el("section", { class: "card" },
    el("table", {}, el("thead", {}, el("tr", {}, ["Sandbox", "Template", "State", "Created", "Expires", "Metadata"].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No sandboxes yet."))))));
  setTimeout(() => route().catch(fail), 5000);
}

// -- one sandbox -------------------------------------------------------------------------
class SandboxView {
  constructor(id) {
    this.id = id;
    this.cells = new Map();
    this.cellList = el("div", { id: "cells" });
    this.info = el("div");
    this.metrics = el("div");
    this.files = el("div", { class: "files" });
    this.folder = "/home/user";
    this.banner = el("div");
  }

  async start() {
    crumb.replaceChildren(el("a", { href: "/ui/" }, "Sandboxes"), " / ", this.id);
    this.sandbox = await api("GET", `/sandboxes/${this.id}`);
    this.contexts = await api("GET", `/sandboxes/${this.id}/contexts`);
    if (SHARED) this.banner.append(el("p", { class: "banner", id: "shared" }, "A shared, read-only view of this sandbox."));
    main.replaceChildren(this.banner, el("div", { class: "layout" },
      el("div", {}, this.cellList, SHARED ? null : this.composer()),
      el("aside", { class: "side" },
        el("section", { class: "card" }, el("h2", {}, "Sandbox"), this.info),
        el("section", { class: "card" }, el("h2", {}, "Resources"), this.metrics),
        SHARED ? null : el("section", { class: "card" }, el("h2", {}, "Files"), this.files))));
    this.showInfo();
    this.follow();
    if (!SHARED) this.showFiles().catch((e) => this.files.replaceChildren(el("p", { class: "muted" }, e.message)));
    this.pollMetrics();
  }

  follow() {
    const source = new EventSource(`/v1/sandboxes/${this.id}/notebook/events`);
    source.addEventListener("cells", (e) => {
      this.cells.clear();
      this.cellList.replaceChildren();
      for (const cell of JSON.parse(e.data).cells) this.upsert(cell);
      if (!this.cells.size) this.cellList.append(el("p", { class: "muted empty" }, "No cells yet: run code through any SDK, or below."));
    });
    source.addEventListener("cell", (e) => this.upsert(JSON.parse(e.data).cell));
    source.addEventListener("count", (e) => {
      const { cell_id, execution_count } = JSON.parse(e.data);
      const entry = this.cells.get(cell_id);
      if (entry) { entry.cell.execution_count = execution_count; entry.count.textContent = `[${execution_count}]`; }
    });
    source.addEventListener("output", (e) => {
      const { cell_id, output } = JSON.parse(e.data);
      const entry = this.cells.get(cell_id);
      if (entry) this.addOutput(entry, output);
    });
    source.addEventListener("end", (e) => this.upsert(JSON.parse(e.data).cell));
    source.addEventListener("gone", (e) => {
      source.close();
      this.banner.replaceChildren(el("p", { class: "banner" }, JSON.parse(e.data).why));
      if (JSON.parse(e.data).why.includes("fell behind")) setTimeout(() => this.follow(), 1000);
    });
  }

  upsert(cell) {
    this.cellList.querySelector(".empty")?.remove();
    const count = el("span", { class: "count" }, cell.execution_count ? `[${cell.execution_count}]` : "[ ]");
    const outputs = el("div", { class: "outputs" });
    const running = cell.status === "running";
    const node = el("article", { class: `cell s-${cell.status}`, "data-cell": cell.id, "data-status": cell.status },
      el("div", { class: "cell-head" }, count, el("span", {}, cell.language), el("span", { class: "muted" }, this.contextLabel(cell.context_id)),
        el("span", { class: "duration" }, seconds(cell)), el("span", { class: "status" }, cell.status), el("span", { class: "spacer" }),
        SHARED ? null : running ? el("button", { onclick: () => this.interrupt(cell) }, "Interrupt") : el("button", { onclick: () => this.run(cell.code, { context_id: cell.context_id }) }, "Re-run")),
      el("pre", { class: "code" }, cell.code), outputs);
    const entry = { cell: { ...cell, outputs: [] }, node, count, outputs };
    const old = this.cells.get(cell.id);
    this.cells.set(cell.id, entry);
    for (const output of cell.outputs) this.addOutput(entry, output);
    if (cell.truncated_bytes && cell.ended_at) {
      node.append(el("p", { class: "muted full" }, el("a", { href: `/v1/sandboxes/${this.id}/cells/${cell.id}/output`, download: `${cell.id}-output.txt` },
        `Download the whole output (${bytes(cell.truncated_bytes)} more)`)));
    }
    if (old) old.node.replaceWith(node);
    else this.cellList.append(node);
  }

  addOutput(entry, output) {
    const outputs = entry.cell.outputs;
    const last = outputs[outputs.length - 1];
    if (output.output_type === "stream" && last?.output_type === "stream" && last.name === output.name) {
      last.text += output.text;
      last.node.textContent = last.text.replace(ANSI, "");
      return;
    }
    const index = outputs.length;
    const copy = { ...output };
    copy.node = this.render(entry.cell, output, index);
    outputs.push(copy);
    entry.outputs.append(copy.node);
  }

  render(cell, output, index) {
    if (output.output_type === "stream") return el("pre", { class: `stream ${output.name}` }, output.text.replace(ANSI, ""));
    if (output.output_type === "error") {
      return el("pre", { class: "traceback" }, (output.traceback.length ? output.traceback.join("\n") : `${output.ename}: ${output.evalue}`).replace(ANSI, ""));
    }
    const data = output.data || {};
    for (const kind of ["image/png", "image/jpeg"]) {
      if (data[kind]) return el("img", { src: `data:${kind};base64,${data[kind].replace(/\s/g, "")}`, alt: data["text/plain"] || "image" });
    }
    if (data["image/svg+xml"]) {
      // An <img> of a data: URL: an SVG's scripts do not run, and nothing is left to revoke.
      const utf8 = new TextEncoder().encode(data["image/svg+xml"]);
      let binary = "";
      for (let i = 0; i < utf8.length; i += 0x8000) binary += String.fromCharCode(...utf8.subarray(i, i + 0x8000));
      return el("img", { src: `data:image/svg+xml;base64,${btoa(binary)}`, alt: "svg" });
    }
    if (data["text/html"]) {
      const src = `/v1/sandboxes/${this.id}/cells/${cell.id}/outputs/${index}/html`;
      return el("iframe", { sandbox: "allow-scripts", src, title: "HTML result", loading: "lazy", referrerpolicy: "no-referrer" });
    }
    if (data["text/markdown"]) return markdown(data["text/markdown"]);
    if (data["text/latex"]) return latex(data["text/latex"]);
    if (data["application/json"] !== undefined) return el("pre", { class: "json" }, JSON.stringify(data["application/json"], null, 2));
    return el("pre", { class: "stream" }, data["text/plain"] ?? "");
  }

  contextLabel(contextId) {
    const context = (this.contexts || []).find((c) => c.id === contextId);
    return context ? `context ${context.id.slice(0, 8)}` : "";
  }

  composer() {
    const code = el("textarea", { id: "code", placeholder: "Code to run in the sandbox (Shift+Enter runs)", spellcheck: "false" });
    const language = el("select", { id: "language" }, LANGUAGES.map((l) => el("option", { value: l }, l)));
    const status = el("span", { class: "muted" });
    const submit = async () => {
      if (!code.value.trim()) return;
      status.textContent = "running…";
      try { await this.run(code.value, { language: language.value }); status.textContent = ""; code.value = ""; }
      catch (e) { status.textContent = e.message; }
    };
    code.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.shiftKey) { e.preventDefault(); submit(); } });
    const download = el("a", { href: `/v1/sandboxes/${this.id}/notebook`, download: `${this.id}.ipynb` }, "Download .ipynb");
    return el("section", { class: "card composer" }, code,
      el("div", { class: "row" }, language, el("button", { class: "primary", id: "run", onclick: submit }, "Run"), status, el("span", { class: "spacer", style: "flex:1" }), download));
  }

  async run(code, target) {
    const response = await api("POST", `/sandboxes/${this.id}/execute`, { code, ...target }, true);
    await response.text();  // the cell arrives through the view's events; this ends with it
    this.contexts = await api("GET", `/sandboxes/${this.id}/contexts`);
  }

  async interrupt(cell) {
    await api("POST", `/sandboxes/${this.id}/contexts/${cell.context_id}/interrupt`).catch((e) => alert(e.message));
  }

  showInfo() {
    const s = this.sandbox;
    const act = (label, method, path, body, cls) => el("button", { class: cls, onclick: async () => {
      try {
        const result = await api(method, path, body);
        if (method === "DELETE") { location.href = "/ui/"; return; }
        this.sandbox = result; this.showInfo();
      } catch (e) { alert(e.message); }
    } }, label);
    this.info.replaceChildren(
      el("dl", {},
        el("dt", {}, "State"), el("dd", {}, el("span", { class: `state ${s.state}`, id: "state" }, s.state)),
        el("dt", {}, "Template"), el("dd", {}, s.template),
        el("dt", {}, "Created"), el("dd", {}, when(s.created_at)),
        el("dt", {}, "Expires"), el("dd", {}, when(s.expires_at)),
        el("dt", {}, "Limits"), el("dd", {}, `${s.cpu} CPU, ${s.memory_mb} MiB, disk ${s.disk_mb} MiB`),
        ...Object.entries(s.metadata).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])),
      SHARED ? null : el("div", { class: "actions" },
        s.state === "paused" ? act("Resume", "POST", `/sandboxes/${this.id}/resume`, {}) : act("Pause", "POST", `/sandboxes/${this.id}/pause`, {}),
        ...(this.contexts || []).map((c) => el("button", { title: `restart ${c.language} context ${c.id}`, onclick: () => api("POST", `/sandboxes/${this.id}/contexts/${c.id}/restart`).catch((e) => alert(e.message)) }, `Restart ${c.language}`)),
        act("Kill", "DELETE", `/sandboxes/${this.id}`, undefined, "danger")));
  }

  async pollMetrics() {
    try {
      const samples = await api("GET", `/sandboxes/${this.id}/metrics`);
      const last = samples[samples.length - 1];
      this.metrics.replaceChildren(
        el("div", {}, `CPU ${last ? last.cpu_used_pct.toFixed(0) : 0}%`), spark(samples.map((m) => m.cpu_used_pct), 100),
        el("div", {}, `Memory ${last ? bytes(last.mem_used) : "—"} of ${last ? bytes(last.mem_total) : "—"}`), spark(samples.map((m) => m.mem_used), last?.mem_total || 1),
        el("div", {}, `Disk ${last ? bytes(last.disk_used) : "—"}`), spark(samples.map((m) => m.disk_used), last?.disk_total || 1));
    } catch (e) { this.metrics.replaceChildren(el("p", { class: "muted" }, e.message)); }
    if (document.body.contains(this.metrics)) setTimeout(() => this.pollMetrics(), 5000);
  }

  async showFiles() {
    const entries = await api("GET", `/sandboxes/${this.id}/files/list?path=${encodeURIComponent(this.folder)}`);
    const up = this.folder === "/" ? null : this.folder.replace(/\/[^/]+$/, "") || "/";
    const open = (path) => () => { this.folder = path; this.showFiles().catch((e) => alert(e.message)); };
    const upload = el("input", { type: "file", onchange: async (e) => {
      for (const file of e.target.files) {
        await api("PUT", `/sandboxes/${this.id}/files?path=${encodeURIComponent(`${this.folder}/${file.name}`)}`, file).catch((err) => alert(err.message));
      }
      this.showFiles();
    } });
    entries.sort((a, b) => (a.type === "dir") === (b.type === "dir") ? a.name.localeCompare(b.name) : a.type === "dir" ? -1 : 1);
    this.files.replaceChildren(el("div", { class: "muted" }, this.folder),
      el("ul", {}, up ? el("li", {}, el("a", { href: "#", onclick: open(up) }, "..")) : null,
        entries.map((f) => el("li", {}, f.type === "dir"
          ? el("a", { href: "#", onclick: open(f.path) }, `${f.name}/`)
          : el("a", { href: `/v1/sandboxes/${this.id}/files?path=${encodeURIComponent(f.path)}`, download: f.name }, f.name),
        f.type === "dir" ? "" : el("span", { class: "muted" }, ` ${bytes(f.size)}`)))),
      el("label", {}, "Upload: ", upload));
  }
}

function spark(values, top) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 100 20");
  svg.setAttribute("preserveAspectRatio", "none");
  if (values.length > 1) {
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    const step = 100 / (values.length - 1);
    path.setAttribute("d", values.map((v, i) => `${i ? "L" : "M"}${(i * step).toFixed(1)},${(20 - (20 * Math.min(v, top)) / top).toFixed(1)}`).join(""));
    svg.append(path);
  }
  return svg;
}

// LaTeX by KaTeX (served by the front end, loaded on the first formula); its source until then,
// and if KaTeX cannot read it. KaTeX builds its own markup from TeX (no \href: trust is off).
let katexLoading = null;
function latex(source) {
  const node = el("div", { class: "latex" }, source);
  katexLoading ??= new Promise((resolve, reject) => {
    document.head.append(el("link", { rel: "stylesheet", href: "/ui/vendor/katex/katex.min.css" }));
    document.head.append(el("script", { src: "/ui/vendor/katex/katex.min.js", onload: resolve, onerror: reject }));
  });
  katexLoading.then(() => {
    const tex = source.trim().replace(/^\$\$([\s\S]*)\$\$$/, "$1").replace(/^\$([\s\S]*)\$$/, "$1");
    try { window.katex.render(tex, node, { displayMode: true, throwOnError: false, trust: false }); }
    catch { node.textContent = source; }
  }, () => {});
  return node;
}

// A small Markdown subset (headings, emphasis, code, lists, links), built as nodes: no HTML
// from the result is ever parsed.
function markdown(text) {
  const root = el("div", { class: "md" });
  let list = null;
  for (const line of text.split("\n")) {
    const heading = /^(#{1,3})\s+(.*)/.exec(line);
    const item = /^\s*[-*]\s+(.*)/.exec(line);
    if (item) { list ??= root.appendChild(el("ul")); list.append(el("li", {}, inline(item[1]))); continue; }
    list = null;
    if (heading) root.append(el(`h${heading[1].length}`, {}, inline(heading[2])));
    else if (line.trim()) root.append(el("p", {}, inline(line)));
  }
  return root;
}

function inline(text) {
  const parts = [];
  const pattern = /(`[^`]+`|\*\*[^*]+\*\*|\*[^*]+\*|\[[^\]]+\]\([^)\s]+\))/g;
  let at = 0;
  for (const match of text.matchAll(pattern)) {
    parts.push(text.slice(at, match.index));
    const token = match[0];
    if (token.startsWith("`")) parts.push(el("code", {}, token.slice(1, -1)));
    else if (token.startsWith("**")) parts.push(el("strong", {}, token.slice(2, -2)));
    else if (token.startsWith("*")) parts.push(el("em", {}, token.slice(1, -1)));
    else {
      const [, label, href] = /\[([^\]]+)\]\(([^)\s]+)\)/.exec(token);
      parts.push(/^https?:\/\//.test(href) ? el("a", { href, rel: "noopener noreferrer", target: "_blank" }, label) : label);
    }
    at = match.index + token.length;
  }
  parts.push(text.slice(at));
  return parts;
}

function fail(error) {
  if (error instanceof Unauthorized) { document.getElementById("logout").hidden = true; signIn(); return; }
  main.replaceChildren(el("section", { class: "card" }, el("p", { class: "error", id: "problem" }, error.message)));
}

async function route() {
  document.getElementById("logout").hidden = SHARED;
  const match = /^\/ui\/sandboxes\/([^/]+)$/.exec(location.pathname);
  if (match) {
    await new SandboxView(decodeURIComponent(match[1])).start();
  } else {
    await listPage();
  }
}

// A result's frame says how tall it is (bounded: it is the sandbox's to say).
window.addEventListener("message", (event) => {
  const height = event.data?.interpreterFrameHeight;
  if (typeof height !== "number") return;
  for (const frame of document.querySelectorAll("iframe")) {
    if (frame.contentWindow === event.source) frame.style.height = `${Math.min(Math.max(height + 4, 40), 1600)}px`;
  }
});

route().catch(fail);
