// Shadow mode: the candidate's counts and agreement, one answer per second; start / stop (engineer).
"use strict";
(() => {
  const pct = (v) => (v === null || v === undefined) ? "–" : (100 * v).toFixed(1) + " %";
  const decision = (name, score) => MP.label("decision", name) +
    (score === null || score === undefined ? "" : " (" + score.toFixed(3) + ")");
  const status = document.getElementById("shadow-status");

  function show(s) {
    const model = document.getElementById("shadow-model");
    const agreement = document.getElementById("shadow-agreement");
    const body = document.querySelector("#shadow-disagreements tbody");
    document.querySelector(".shadow").dataset.state = s ? (s.running ? "on" : "stopped") : "off";
    if (!s) {
      MP.fillTable(model, [[MP.t("shadow.state"), MP.t("shadow.off")]]);
      MP.fillTable(agreement, []);
      body.replaceChildren();
      return;
    }
    MP.fillTable(model, [
      [MP.t("shadow.state"), MP.t(s.running ? "shadow.on" : "shadow.stopped")],
      [MP.t("shadow.name"), s.name], [MP.t("shadow.version"), s.version || "–"],
      [MP.t("shadow.parts_judged"), String(s.parts_judged)],
      [MP.t("shadow.dropped"), String(s.dropped), s.dropped ? "error" : ""],
      [MP.t("shadow.errors"), String(s.errors), s.errors ? "error" : ""]]);
    MP.fillTable(agreement, [
      [MP.t("shadow.window", {n: s.window_parts}), String(s.in_window)],
      [MP.t("shadow.with_active", {n: s.compared}), pct(s.agreement_active)],
      [MP.t("shadow.with_labels", {n: s.labelled}), pct(s.agreement_labels)],
      [MP.t("shadow.active_with_labels"), pct(s.active_agreement_labels)]]);
    body.replaceChildren();
    for (const d of s.disagreements) {
      const tr = body.insertRow();
      for (const v of [d.part_id ?? "–", d.shot ?? "–", d.cavity, decision(d.active, d.active_score),
                       decision(d.shadow, d.shadow_score)]) {
        const td = tr.insertCell();
        td.textContent = String(v);
      }
    }
  }

  async function tick() {
    try {
      show((await MP.getJSON("/api/shadow")).shadow);
    } catch (e) { /* the next tick tries again */ }
  }

  async function post(what) {
    status.textContent = MP.t(what === "start" ? "shadow.starting" : "shadow.stopping");
    const r = await MP.postJSON("/api/shadow/" + what, {});
    status.textContent = r.status === 200 ? "" : (r.data.error || ("HTTP " + r.status));
    status.classList.toggle("error", r.status !== 200);
    tick();
  }
  for (const what of ["start", "stop"]) {
    const button = document.getElementById("shadow-" + what);
    if (button) button.addEventListener("click", () => post(what));
  }
  tick();
  setInterval(tick, 1000);
})();
