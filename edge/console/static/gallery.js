// NG gallery: the newest NG / NO_DECISION parts of the NG store; click one to enlarge it.
"use strict";
(() => {
  const parts = document.getElementById("parts");
  const modal = document.getElementById("enlarged");

  function caption(r) {
    let s = MP.t("cavity.n", {n: r.cavity}) + " · " + MP.label("decision", r.decision);
    if (r.defect) s += " " + MP.label("defect", r.defect);
    if (r.error) s += " " + MP.label("reason", r.error);
    if (r.score !== null && r.score !== undefined) s += " · " + MP.t("live.score") + " " + Number(r.score).toFixed(2);
    return s;
  }

  async function enlarge(p) {
    document.getElementById("big-crop").src = p.crop || "";
    document.getElementById("big-overlay").src = p.overlay;
    document.getElementById("big-json").textContent = JSON.stringify(p.record, null, 2);
    modal.hidden = false;
  }

  async function load() {
    const q = new URLSearchParams({cavity: document.getElementById("f-cavity").value,
      defect: document.getElementById("f-defect").value, hours: document.getElementById("f-hours").value});
    const data = await MP.getJSON("/api/gallery?" + q);
    parts.replaceChildren();
    for (const p of data.parts) {
      const fig = document.createElement("figure");
      fig.className = "part";
      fig.dataset.cavity = p.record.cavity;
      const img = document.createElement("img");
      img.src = p.overlay;
      img.alt = caption(p.record);
      const cap = document.createElement("figcaption");
      cap.textContent = caption(p.record) + " · " + (p.taken || "").replace("T", " ");
      fig.append(img, cap);
      fig.addEventListener("click", () => enlarge(p));
      parts.appendChild(fig);
    }
    document.getElementById("gallery-empty").hidden = data.parts.length > 0;
  }

  document.getElementById("filters").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  document.getElementById("close-modal").addEventListener("click", () => { modal.hidden = true; });
  load();
  setInterval(() => { if (modal.hidden) load(); }, 5000);
})();
