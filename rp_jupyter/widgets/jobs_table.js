// rp_jupyter jobs table: one row a job, live; a click asks the kernel to open that job's view.

function cell(tag, text, cls) {
  const node = document.createElement(tag);
  node.textContent = text === null || text === undefined ? "–" : String(text);
  if (cls) node.className = cls;
  return node;
}

function render({ model, el }) {
  el.classList.add("rpj-view", "rpj-jobs");
  const table = document.createElement("table");
  table.className = "rpj-table";
  const head = document.createElement("tr");
  for (const name of ["state", "handler", "job id", "delay", "execution", "chunks"]) head.appendChild(cell("th", name));
  const body = document.createElement("tbody");
  table.append(head, body);
  const empty = cell("div", "no jobs yet", "rpj-id");
  el.append(table, empty);

  function draw() {
    const rows = model.get("rows") || [];
    empty.style.display = rows.length ? "none" : "";
    body.textContent = "";
    for (const row of rows.slice().reverse()) {
      const tr = document.createElement("tr");
      tr.className = "rpj-row";
      tr.title = "open this job's view";
      const chip = cell("span", row.status, "rpj-status");
      chip.style.background = row.colour;
      const state = document.createElement("td");
      state.appendChild(chip);
      tr.append(state, cell("td", row.handler, "rpj-handler"), cell("td", row.id, "rpj-id"),
        cell("td", row.delayTime === null ? null : `${row.delayTime} ms`),
        cell("td", row.executionTime === null ? null : `${row.executionTime} ms`), cell("td", row.chunks));
      tr.addEventListener("click", () => model.send({ id: row.id }));
      body.appendChild(tr);
    }
  }
  model.on("change:rows", draw);
  draw();
}

export default { render };
