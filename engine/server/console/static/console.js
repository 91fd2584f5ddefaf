// engine console: the live parts of the server-rendered pages (no build step, no library).
"use strict";
(function () {
  const csrf = (document.querySelector('meta[name="csrf"]') || {}).content || "";

  // Buttons that destroy something ask first.
  document.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-confirm]");
    if (b && !window.confirm(b.dataset.confirm)) e.preventDefault();
  });

  // -- instances: refreshed every 2 s ------------------------------------------------------------
  const instances = document.getElementById("instances");
  if (instances) {
    const refresh = async () => {
      try {
        const r = await fetch("/console/api/instances", {credentials: "same-origin"});
        if (!r.ok) return;
        for (const i of (await r.json()).instances) {
          const row = instances.querySelector(`tr[data-instance="${CSS.escape(i.id)}"]`);
          if (!row) continue;
          const values = Object.assign({}, i.counts, {queue_depth: i.queue_depth, in_flight: i.in_flight});
          for (const [k, v] of Object.entries(values)) {
            const cell = row.querySelector(`[data-field="${k}"]`);
            if (cell) cell.textContent = v;
          }
          const dead = row.querySelector('[data-field="dead_letters"] a');
          if (dead) dead.textContent = i.dead_letters;
          const state = row.querySelector('[data-field="state"]');
          state.textContent = i.state;
          state.className = "state state-" + i.state;
        }
      } catch (err) { /* the server is restarting: try again at the next tick */ }
    };
    setInterval(refresh, 2000);
  }

  // -- the live tail: server-sent events ---------------------------------------------------------
  const tail = document.querySelector("#tail tbody");
  const template = document.getElementById("tail-row");
  const status = document.getElementById("tail-status");
  const KEEP = 200;
  const clock = (ts) => new Date(ts * 1000).toISOString().slice(11, 19);

  function fill(row, e) {
    row.dataset.id = e.id;
    row.querySelector('[data-field="at"]').textContent = clock(e.at);
    row.querySelector('[data-field="type"]').textContent = e.type || "";
    row.querySelector('[data-field="name"]').textContent = e.name || "";
    row.querySelector('[data-field="who"]').textContent = e.who || "";
    const cell = row.querySelector('[data-field="outcomes"]');
    cell.textContent = "";
    for (const [inst, out] of Object.entries(e.outcomes || {})) {
      const span = document.createElement("span");
      span.className = "outcome outcome-" + out;
      span.textContent = `${inst}: ${out}`;
      cell.append(span, " ");
    }
  }

  async function open(row, force) {
    let detail = row.nextElementSibling;
    if (detail && detail.classList.contains("tail-detail")) {
      if (!force) { detail.remove(); return; }
    } else {
      if (force) return;  // refresh only what is open
      detail = document.createElement("tr");
      detail.className = "tail-detail";
      detail.innerHTML = '<td colspan="6">loading…</td>';
      row.after(detail);
    }
    const r = await fetch("/console/events/" + encodeURIComponent(row.dataset.id), {credentials: "same-origin"});
    const cell = document.createElement("td");
    cell.colSpan = 6;
    cell.innerHTML = await r.text();  // server-rendered, escaped, masked
    detail.replaceChildren(cell);
  }

  if (tail && template) {
    tail.addEventListener("click", (e) => {
      const b = e.target.closest("button.open");
      if (b) open(b.closest("tr"), false);
    });
    const source = new EventSource("/console/api/tail");
    source.onopen = () => { status.textContent = "live"; };
    source.onerror = () => { status.textContent = "reconnecting…"; };
    source.onmessage = (m) => {
      const e = JSON.parse(m.data);
      let row = tail.querySelector(`tr.tail-row[data-id="${CSS.escape(e.id)}"]`);
      if (row) {
        fill(row, e);
        open(row, true);
        return;
      }
      row = template.content.firstElementChild.cloneNode(true);
      fill(row, e);
      tail.prepend(row);
      const rows = tail.querySelectorAll("tr.tail-row");
      for (let i = KEEP; i < rows.length; i++) {
        const next = rows[i].nextElementSibling;
        if (next && next.classList.contains("tail-detail")) next.remove();
        rows[i].remove();
      }
    };
  }
  void csrf;
})();
