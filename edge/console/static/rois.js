// ROI editor: one rectangle per cavity on a snapshot; draw, move (drag inside) and resize (drag the
// corner) with pointer events, so a mouse and a finger work alike. Coordinates are frame pixels.
"use strict";
(() => {
  const canvas = document.getElementById("editor");
  const g = canvas.getContext("2d");
  const status = document.getElementById("roi-status");
  const snapshot = new Image();
  let cavities = [];
  let selected = 0;
  let drag = null;
  let modelWh = null;
  const HANDLE_PX = 14;

  function toFrame(e) {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  }
  const handlePx = () => HANDLE_PX * canvas.width / canvas.getBoundingClientRect().width;
  const inside = ([x, y, w, h], [px, py]) => px >= x && py >= y && px <= x + w && py <= y + h;
  const nearCorner = ([x, y, w, h], [px, py]) => Math.abs(px - (x + w)) <= handlePx() && Math.abs(py - (y + h)) <= handlePx();

  function draw() {
    if (snapshot.naturalWidth) {
      canvas.width = snapshot.naturalWidth;
      canvas.height = snapshot.naturalHeight;
      g.drawImage(snapshot, 0, 0);
    }
    cavities.forEach((c, i) => {
      const [x, y, w, h] = c.roi;
      g.lineWidth = i === selected ? 4 : 2;
      g.strokeStyle = i === selected ? "#ffeb3b" : "#00e5ff";
      g.strokeRect(x, y, w, h);
      g.fillStyle = g.strokeStyle;
      g.fillRect(x + w - handlePx() / 2, y + h - handlePx() / 2, handlePx(), handlePx());
      g.font = "bold 18px sans-serif";
      g.fillText(String(c.id), x + 4, y + 20);
    });
  }

  function showList() {
    const list = document.getElementById("roi-list");
    list.replaceChildren();
    cavities.forEach((c, i) => {
      const li = document.createElement("li");
      li.className = i === selected ? "selected" : "";
      li.dataset.index = i;
      const label = document.createElement("label");
      label.textContent = MP.t("roi.number") + " ";
      const number = document.createElement("input");
      number.type = "number"; number.min = 1; number.max = 16; number.value = c.id;
      number.addEventListener("change", () => { c.id = Number(number.value); draw(); previews(); });
      label.appendChild(number);
      const text = document.createElement("span");
      text.className = "roi-text";
      text.textContent = " " + c.roi.join(", ");
      li.append(label, text);
      li.addEventListener("click", () => { selected = i; showList(); draw(); });
      list.appendChild(li);
    });
  }

  function previews() {
    const box = document.getElementById("previews");
    box.replaceChildren();
    for (const c of cavities) {
      const [x, y, w, h] = c.roi;
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = "/api/rois/preview.png?" + new URLSearchParams({x, y, w, h});
      img.alt = MP.t("cavity.n", {n: c.id});
      const cap = document.createElement("figcaption");
      cap.textContent = MP.t("cavity.n", {n: c.id}) + " · " + w + "×" + h + " → " + (modelWh ? modelWh.join("×") : "");
      fig.append(img, cap);
      box.appendChild(fig);
    }
  }

  function refresh() { draw(); showList(); previews(); }

  canvas.addEventListener("pointerdown", (e) => {
    const p = toFrame(e);
    canvas.setPointerCapture(e.pointerId);
    const hit = cavities.findIndex((c) => nearCorner(c.roi, p));
    const within = cavities.findIndex((c) => inside(c.roi, p));
    if (hit >= 0) { selected = hit; drag = {mode: "resize", start: p, roi: [...cavities[hit].roi]}; }
    else if (within >= 0) { selected = within; drag = {mode: "move", start: p, roi: [...cavities[within].roi]}; }
    else {
      if (!cavities.length) cavities.push({id: 1, roi: [p[0], p[1], 1, 1]});
      drag = {mode: "draw", start: p, roi: [p[0], p[1], 0, 0]};
    }
    draw(); showList();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const [px, py] = toFrame(e);
    const dx = px - drag.start[0], dy = py - drag.start[1];
    const [x, y, w, h] = drag.roi;
    let roi;
    if (drag.mode === "move") roi = [x + dx, y + dy, w, h];
    else if (drag.mode === "resize") roi = [x, y, Math.max(1, w + dx), Math.max(1, h + dy)];
    else roi = [Math.min(px, drag.start[0]), Math.min(py, drag.start[1]), Math.abs(dx), Math.abs(dy)];
    cavities[selected].roi = roi.map(Math.round);
    draw();
  });
  const end = () => { if (drag) { drag = null; refresh(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  document.getElementById("add").addEventListener("click", () => {
    const id = Math.max(0, ...cavities.map((c) => c.id)) + 1;
    const side = Math.round(Math.min(canvas.width, canvas.height) / 5);
    cavities.push({id, roi: [10, 10, side, side]});
    selected = cavities.length - 1;
    refresh();
  });
  document.getElementById("remove").addEventListener("click", () => {
    cavities.splice(selected, 1);
    selected = Math.max(0, selected - 1);
    refresh();
  });
  document.getElementById("snapshot").addEventListener("click", takeSnapshot);
  document.getElementById("save").addEventListener("click", async () => {
    const errors = document.getElementById("roi-errors");
    errors.replaceChildren();
    status.textContent = MP.t("roi.saving");
    const {status: code, data} = await MP.postJSON("/api/rois", {cavities});
    if (code === 200) {
      cavities = data.cavities;
      status.textContent = data.saved_to ? MP.t("roi.saved", {path: data.saved_to}) : MP.t("roi.applied");
      status.className = "state good";
      refresh();
      return;
    }
    status.textContent = MP.t("roi.refused");
    status.className = "state bad";
    for (const message of data.errors || [data.error || ("HTTP " + code)]) {
      const li = document.createElement("li");
      li.textContent = message;
      errors.appendChild(li);
    }
  });

  async function takeSnapshot() {
    await new Promise((resolve) => {
      snapshot.onload = snapshot.onerror = resolve;
      snapshot.src = "/api/rois/snapshot.jpg?t=" + Date.now();
    });
    draw();
  }

  (async () => {
    const data = await MP.getJSON("/api/rois");
    cavities = data.cavities;
    modelWh = data.model_wh;
    await takeSnapshot();
    refresh();
    canvas.dataset.ready = "yes";
  })();
})();
