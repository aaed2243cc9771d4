// rp_jupyter job view: renders a JobView model. State arrives throttled; the stream arrives as
// deltas with a sequence number, appended to a text node (never re-sending or re-rendering it all).

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function ms(value) {
  return value === null || value === undefined ? "–" : `${value} ms`;
}

// A copy button above its <pre>, as the finished (static) view has it; where the clipboard is refused,
// the text is selected for Ctrl-C instead.
function copyBox(label, text) {
  const button = el("button", "rpj-copy", `Copy ${label}`);
  button.type = "button";
  const pre = el("pre", "rpj-snippet", text || "");
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(pre.textContent);
      button.textContent = "Copied";
    } catch (err) {
      const range = document.createRange();
      range.selectNodeContents(pre);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      button.textContent = "Selected: Ctrl-C";
    }
    setTimeout(() => (button.textContent = `Copy ${label}`), 1500);
  });
  const box = el("div");
  box.append(button, pre);
  return box;
}

function renderTraceback(pre, traceback) {
  pre.textContent = "";
  for (const line of traceback.split("\n")) {
    // a frame: `  File "…", line 3` or, in a notebook cell, `  Cell In[5], line 3` (as IPython names it)
    const frame = line.startsWith("  File ") || line.startsWith("  Cell ");
    pre.appendChild(el("span", frame ? "rpj-frame" : "", line + "\n"));
  }
}

const LOG_KEEP = 2000; // log entries the pane keeps (the latest); job.logs has them all

function logSummary(total, stderr) {
  return `logs · ${total} entr${total === 1 ? "y" : "ies"}` + (stderr ? ` · ${stderr} on stderr` : "");
}

function render({ model, el: root }) {
  root.classList.add("rpj-view");
  const head = el("div", "rpj-head");
  const chip = el("span", "rpj-status");
  const name = el("span", "rpj-handler");
  const id = el("span", "rpj-id");
  const times = el("span", "rpj-times");
  const cancel = el("button", "rpj-button rpj-cancel", "Cancel");
  cancel.addEventListener("click", () => model.send({ type: "cancel" }));
  head.append(chip, name, id, times, cancel);

  const warnings = el("div", "rpj-warnings");
  const progress = el("div", "rpj-progress");
  const bar = el("div", "rpj-bar");
  const fill = el("div", "rpj-bar-fill");
  bar.appendChild(fill);
  const progressLabel = el("span", "rpj-progress-label");
  const history = el("div", "rpj-history");
  progress.append(bar, progressLabel, history);

  const streamBox = el("div", "rpj-stream-box");
  const stream = el("pre", "rpj-stream");
  const streamText = document.createTextNode("");
  stream.appendChild(streamText);
  const stats = el("div", "rpj-stats");
  streamBox.append(stream, stats);

  const logs = el("details", "rpj-logs");
  logs.open = true;
  const logTitle = el("summary", "", "");
  const logNote = el("div", "rpj-note");
  const logPre = el("pre", "rpj-log");
  logs.append(logTitle, logNote, logPre);

  const result = el("div", "rpj-result");
  const snippets = el("details", "rpj-snippets");
  root.append(head, warnings, progress, streamBox, logs, result, snippets);

  let seq = 0;
  let tick = null;
  const utf8 = new TextDecoder();
  // a delta's text arrives as a binary buffer (DataView) of UTF-8; a string is taken as it is
  const textOf = (value) => (typeof value === "string" ? value : utf8.decode(value));

  function setText(text) {
    streamText.data = text;
    stream.scrollTop = stream.scrollHeight;
  }

  function onDelta() {
    const delta = model.get("delta");
    if (!delta || delta.seq === seq) return;
    if (delta.seq === seq + 1) {
      streamText.appendData(textOf(delta.text));
      seq = delta.seq;
      stream.scrollTop = stream.scrollHeight;
    } else {
      model.send({ type: "snapshot" });  // missed a delta (view opened late): ask for everything
    }
  }

  let logSeq = 0;
  let logSkipped = 0;

  function appendLogRows(rows) {
    const atEnd = logPre.scrollHeight - logPre.scrollTop - logPre.clientHeight < 8;
    const fragment = document.createDocumentFragment();
    for (const row of rows) {
      fragment.append(el("span", "rpj-log-time", row.t), " ");
      fragment.append(row.s === "stderr" ? el("span", "rpj-log-stderr", row.x) : row.x, "\n");
    }
    logPre.appendChild(fragment);
    while (logPre.childNodes.length > LOG_KEEP * 4) {  // time, space, text, newline per entry
      for (let i = 0; i < 4; i++) logPre.removeChild(logPre.firstChild);
      logSkipped += 1;
    }
    if (atEnd) logPre.scrollTop = logPre.scrollHeight;  // follow the tail unless the reader scrolled up
  }

  function drawLogTitle(total, stderr) {
    logs.style.display = total ? "" : "none";
    logTitle.textContent = logSummary(total, stderr);
    logNote.textContent = logSkipped ? `… ${logSkipped.toLocaleString()} earlier entries not shown here; job.logs has them all` : "";
    logNote.style.display = logSkipped ? "" : "none";
  }

  function onLogs() {
    const l = model.get("logs");
    if (!l || l.seq === logSeq) {
      if (l) drawLogTitle(l.total, l.stderr);
      return;
    }
    if (l.seq === logSeq + 1) {
      logSkipped += l.skipped || 0;
      appendLogRows(l.rows);
      logSeq = l.seq;
    } else {
      model.send({ type: "logs_snapshot" });  // missed a batch (view opened late, a reload): the latest again
    }
    drawLogTitle(l.total, l.stderr);
  }

  function onHeader() {
    const h = model.get("header");
    chip.textContent = h.status;
    chip.title = h.label;
    chip.style.background = h.colour;
    name.textContent = h.handler;
    id.textContent = h.id;
    cancel.style.display = h.running ? "" : "none";
    const receivedAt = Date.now() / 1000;
    const draw = () => {
      const elapsed = h.running ? h.elapsed + (Date.now() / 1000 - receivedAt) : h.elapsed;
      times.textContent = `delay ${ms(h.delayTime)} · execution ${ms(h.executionTime)} · elapsed ${elapsed.toFixed(1)} s`;
    };
    draw();
    if (tick) clearInterval(tick);
    tick = h.running ? setInterval(draw, 200) : null;
  }

  function onWarnings() {  // the watchdog's "blocked at line …", a dropped progress value, …
    warnings.textContent = "";
    for (const text of model.get("warnings") || []) warnings.appendChild(el("div", "rpj-warning", `⚠ ${text}`));
  }

  function onProgress() {
    const p = model.get("progress");
    progress.style.display = p ? "" : "none";
    if (!p) return;
    bar.style.display = p.kind === "bar" ? "" : "none";
    if (p.kind === "bar") fill.style.width = `${(p.fraction * 100).toFixed(1)}%`;
    progressLabel.textContent = p.label;
    history.textContent = (p.history || []).join("  ›  ");
  }

  function onStats() {
    const s = model.get("stats");
    streamBox.style.display = s.chunks ? "" : "none";
    const parts = [`${s.chunks} chunks`, `${s.chars} chars`, `${s.tokens} tokens`];
    if (s.ttfc_ms !== null && s.ttfc_ms !== undefined) parts.push(`first chunk ${s.ttfc_ms} ms`);
    if (s.chunks_per_s) parts.push(`${s.chunks_per_s} chunks/s`);
    if (s.tokens_per_s) parts.push(`${s.tokens_per_s} tokens/s`);
    stats.textContent = parts.join(" · ");
  }

  function onResult() {
    const r = model.get("result");
    result.textContent = "";
    if (!r || (!r.has_output && !r.error)) return;
    if (r.has_output) {
      const box = el("details", "rpj-output");
      box.open = r.output_json.length < 4000;  // long outputs start collapsed
      box.append(el("summary", "", "output"), el("pre", "rpj-json", r.output_json));
      result.appendChild(box);
    }
    if (r.error) {
      const e = r.error;
      const box = el("div", "rpj-error");
      box.appendChild(el("div", "rpj-error-head", e.type ? `${e.type}: ${e.message}` : e.message));
      if (e.traceback) {
        const pre = el("pre", "rpj-traceback");
        renderTraceback(pre, e.traceback);
        box.appendChild(pre);
      }
      const raw = el("details", "rpj-raw");
      raw.append(el("summary", "", "RunPod's raw error"), el("pre", "rpj-json", e.raw));
      box.appendChild(raw);
      result.appendChild(box);
    }
  }

  function onSnippets() {
    const s = model.get("snippets") || {};
    snippets.textContent = "";
    snippets.append(el("summary", "", "same request as curl / Python"), copyBox("curl", s.curl),
      copyBox("Python", s.python));
  }

  model.on("msg:custom", (msg) => {
    if (msg && msg.type === "snapshot") {
      setText(msg.text);
      seq = msg.seq;
      onDelta();
    } else if (msg && msg.type === "logs_snapshot") {
      logPre.textContent = "";
      logSkipped = Math.max(0, msg.total - msg.rows.length);
      appendLogRows(msg.rows);
      logSeq = msg.seq;
      drawLogTitle(msg.total, msg.stderr);
      onLogs();
    }
  });
  model.on("change:delta", onDelta);
  model.on("change:header", onHeader);
  model.on("change:progress", onProgress);
  model.on("change:stats", onStats);
  model.on("change:result", onResult);
  model.on("change:snippets", onSnippets);
  model.on("change:logs", onLogs);
  model.on("change:warnings", onWarnings);

  onHeader();
  onWarnings();
  onProgress();
  onStats();
  onSnippets();
  onResult();
  drawLogTitle(0, 0);
  if (model.get("logs").seq > 0) onLogs();  // a view opened after some logs: asks for the latest
  if (model.get("delta").seq > 0) onDelta();  // the first delta is appended; a later one asks for a snapshot

  return () => tick && clearInterval(tick);
}

export default { render };
