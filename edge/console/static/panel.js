// Station panel: one answer per second; every figure is as of the time shown, greyed when late.
"use strict";
(() => {
  const fmt = (v) => (v === null || v === undefined) ? "–" : (typeof v === "boolean" ? MP.t(v ? "yes" : "no") : String(v));
  const rows = (group, obj) => Object.entries(obj || {}).map(([k, v]) => [MP.t(group + "." + k), fmt(
    k === "state" ? MP.label("camera", v) : v)]);
  let lastOk = 0;

  // Each check with its live figure and bound; a raised condition is marked, and why parts are not judged.
  function health(h) {
    if (!h) return [[MP.t("panel.none"), ""]];
    const out = Object.entries(h.checks).map(([name, c]) => [MP.label("health", name),
      MP.t("health.of", {figure: fmt(c.figure), bound: fmt(c.bound)}) + " · " +
      MP.t(h.raised.includes(name) ? "health.raised" : "health.ok"), h.raised.includes(name) ? "error" : ""]);
    if (h.fail_safe) out.push([MP.t("health.fail_safe"), h.fail_safe, "error"]);
    return out;
  }

  async function tick() {
    try {
      const s = await MP.getJSON("/api/panel");
      lastOk = Date.now();
      document.getElementById("as-of").textContent = MP.clock(s.as_of_s);
      MP.fillTable(document.getElementById("counters"), rows("counter", s.counters));
      MP.fillTable(document.getElementById("reasons"), Object.entries(s.no_decision_by_reason).map(
        ([k, v]) => [MP.label("reason", k), String(v)]));
      MP.fillTable(document.getElementById("plc"), s.plc ? rows("plc", s.plc) : [[MP.t("panel.none"), ""]]);
      MP.fillTable(document.getElementById("mqtt"), s.mqtt ? rows("mqtt", s.mqtt) : [[MP.t("panel.none"), ""]]);
      MP.fillTable(document.getElementById("camera"), rows("camera", s.camera));
      MP.fillTable(document.getElementById("model"), rows("model", s.model));
      MP.fillTable(document.getElementById("health"), health(s.health));
      const ng = [];
      for (const [cavity, [bad, n]] of Object.entries(s.ng_hour)) {
        const shift = s.ng_shift[cavity] || [0, 0];
        ng.push([MP.t("cavity.n", {n: cavity}), MP.t("panel.ng_of", {ng: bad, n: n, sng: shift[0], sn: shift[1]})]);
      }
      MP.fillTable(document.getElementById("ng-table"), ng);
    } catch (e) { /* shown as stale below */ }
    const stale = Date.now() - lastOk > 3000;
    document.getElementById("stale").hidden = !stale;
    document.querySelector(".panel").classList.toggle("stale", stale);
  }

  function chart() {
    const w = document.querySelector('input[name="window"]:checked').value;
    document.getElementById("chart").src = "/api/panel/ngrate.svg?window=" + w + "&t=" + Date.now();
  }
  document.querySelectorAll('input[name="window"]').forEach((r) => r.addEventListener("change", chart));
  tick();
  setInterval(tick, 1000);
  setInterval(chart, 5000);
})();
