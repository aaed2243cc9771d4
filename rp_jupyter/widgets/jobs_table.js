// rp_jupyter jobs table: one row a job (a %rp_bench run is one row), newest first, scrolling within a
// fixed height; a click asks the kernel to open that job's view under the table, and brings it into sight.

function cell(tag, text, cls) {
  const node = document.createElement(tag);
  node.textContent = text === null || text === undefined ? "–" : String(text);
  node.className = cls || (tag === "td" ? "rpj-td" : "");
  return node;
}

// Once the kernel has put the clicked job's view under the table, scroll it into sight (within 5 s).
function revealDetail(el) {
  const panel = el.closest(".rpj-live") || el.parentElement;
  if (!panel || typeof MutationObserver === "undefined") return;
  const observer = new MutationObserver(() => {
    const view = panel.querySelector(".rpj-view:not(.rpj-jobs)");
    if (view) {
      observer.disconnect();
      view.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  });
  observer.observe(panel, { childList: true, subtree: true });
  setTimeout(() => observer.disconnect(), 5000);
}

function render({ model, el }) {
  el.classList.add("rpj-view", "rpj-jobs");
  const scroll = document.createElement("div");
  scroll.className = "rpj-table-scroll";
  const table = document.createElement("table");
  table.className = "rpj-table";
  const head = document.createElement("tr");
  head.className = "rpj-tr";
  for (const name of ["state", "handler", "job id", "delay", "execution", "chunks"]) head.appendChild(cell("th", name, "rpj-th"));
  const body = document.createElement("tbody");
  table.append(head, body);
  scroll.appendChild(table);
  const empty = cell("div", "no jobs yet", "rpj-note");
  const footer = document.createElement("label");
  footer.className = "rpj-note rpj-lab-toggle";
  const toggle = document.createElement("input");
  toggle.type = "checkbox";
  const footerText = document.createElement("span");
  footer.append(toggle, footerText);
  toggle.addEventListener("change", () => {
    model.set("show_lab", toggle.checked);
    model.save_changes();
  });
  const abandoned = document.createElement("div");
  abandoned.className = "rpj-abandoned";
  el.append(scroll, empty, footer, abandoned);
  let selected = null;

  function draw() {
    const rows = model.get("rows") || [];
    const labJobs = model.get("lab_jobs") || 0;
    empty.style.display = rows.length ? "none" : "";
    footer.style.display = labJobs ? "" : "none";
    toggle.checked = model.get("show_lab");
    footerText.textContent = ` show the ${labJobs} jobs of %rp_bench runs (one line a run otherwise)`;
    body.textContent = "";
    for (const row of rows.slice().reverse()) {
      const tr = document.createElement("tr");
      const chip = cell("span", row.status, "rpj-status");
      chip.style.background = row.colour;
      const state = document.createElement("td");
      state.className = "rpj-td";
      state.appendChild(chip);
      if (row.lab) {  // a lab run: its summary across the id and times, no view to open
        tr.className = "rpj-tr rpj-lab-row";
        const summary = cell("td", row.lab, "rpj-td");
        summary.colSpan = 3;
        tr.append(state, cell("td", row.handler, "rpj-td rpj-handler"), summary, cell("td", row.chunks));
      } else {
        tr.className = "rpj-tr rpj-row" + (row.id === selected ? " rpj-selected" : "");
        tr.title = "open this job's view";
        tr.append(state, cell("td", row.handler, "rpj-td rpj-handler"), cell("td", row.id, "rpj-td rpj-id"),
          cell("td", row.delayTime === null ? null : `${row.delayTime} ms`),
          cell("td", row.executionTime === null ? null : `${row.executionTime} ms`), cell("td", row.chunks));
        tr.addEventListener("click", () => {
          selected = row.id;
          for (const other of body.querySelectorAll(".rpj-selected")) other.classList.remove("rpj-selected");
          tr.classList.add("rpj-selected");
          model.send({ id: row.id });
          revealDetail(el);
        });
      }
      body.appendChild(tr);
    }
    abandoned.textContent = "";  // calls that ignored their timeout or cancel and still hold a thread
    for (const line of model.get("abandoned") || []) abandoned.appendChild(cell("div", line, "rpj-note rpj-warning"));
  }
  model.on("change:rows", draw);
  model.on("change:lab_jobs", draw);
  model.on("change:show_lab", draw);
  model.on("change:abandoned", draw);
  draw();
}

export default { render };
