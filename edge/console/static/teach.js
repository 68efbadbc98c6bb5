// Teach page: train (progress, cancel, readiness), validate side by side, threshold preview slider.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const root = $("teach");
  const lang = document.documentElement.lang;
  let preview = null;  // {rows: [[upper|null, escapes, false_rejects]...], n_ng, n_ok, threshold}
  let shownRecord = null;
  let recordKey = null;

  // The same lookup as edge/teach/threshold.py at_threshold: the first row whose upper bound >= t.
  function atThreshold(rows, t) {
    let lo = 0, hi = rows.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (rows[mid][0] !== null && rows[mid][0] < t) lo = mid + 1; else hi = mid;
    }
    return {escapes: rows[lo][1], false_rejects: rows[lo][2]};
  }

  function showTradeoff() {
    if (!preview) return;
    const t = Number($("threshold").value);
    const at = atThreshold(preview.rows, t);
    $("threshold-value").textContent = t.toFixed(3);
    $("tradeoff").textContent = MP.t("teach.tradeoff", {escapes: at.escapes, n_ng: preview.n_ng,
      false_rejects: at.false_rejects, n_ok: preview.n_ok, card: preview.threshold.toFixed(3)});
    $("tradeoff").dataset.escapes = at.escapes;
    $("tradeoff").dataset.falseRejects = at.false_rejects;
  }

  function showDataset(ds) {
    $("dataset-path").textContent = ds.path;
    MP.fillTable($("dataset-counts"), Object.entries(ds.counts).map(([k, n]) => [k, String(n)]));
    $("dataset-hint").textContent = ds.trainable
      ? MP.t("teach.hint", {defects: ds.defects, needed: ds.defects_to_verify})
      : MP.t("teach.not_trainable", {why: ds.problem});
  }

  function showJob(job) {
    const status = $("train-status");
    status.textContent = MP.t("teach.job." + job.state) + (job.candidate ? " · " + job.candidate : "");
    status.className = "state" + (job.state === "done" ? " good" : job.state === "failed" ? " bad" : "");
    root.dataset.job = job.state;
    const bar = $("train-progress");
    if (job.state === "running" && job.total) { bar.max = job.total; bar.value = job.done; }
    if (job.state === "done") { bar.max = 1; bar.value = 1; }
    $("train-stage").textContent = job.stage ? MP.t("teach.stage", {stage: job.stage, done: job.done,
      total: job.total, step: (job.stages || []).length}) : "";
    $("readiness").textContent = job.readiness ? job.readiness.text[lang].join("\n")
      : (job.error ? job.error : "");
    $("unsigned").textContent = job.unsigned ? MP.t("teach.unsigned", {path: job.unsigned}) : "";
    $("readiness").dataset.verdict = job.readiness ? job.readiness.verdict : "";
  }

  function sideRows(record) {
    const rows = [];
    const pair = (label, get) => rows.push([label, get(record.active), get(record.candidate)]);
    const both = (label, key) => {
      pair(label + " · " + MP.t("teach.escapes"), (s) => `${s[key].escapes} / ${s[key].ng_parts}`);
      pair(label + " · " + MP.t("teach.false_rejects"), (s) => `${s[key].false_rejects} / ${s[key].ok_parts}`);
    };
    if (record.holdout) both(MP.t("teach.holdout"), "holdout");
    if (record.footage.length) both(MP.t("teach.footage"), "footage");
    for (const [per, label] of [["footage_per_cavity", "cavity"], ["footage_per_class", "class"],
                                ["holdout_per_class", "class"]]) {
      for (const key of Object.keys(record.candidate[per] || {})) {
        const name = label === "cavity" ? MP.t("cavity.n", {n: key}) : key;
        pair(name + " (" + MP.t(per.startsWith("holdout") ? "teach.holdout" : "teach.footage") + ")",
          (s) => { const f = (s[per] || {})[key]; return f ? `${f.escapes} · ${f.false_rejects}` : "–"; });
      }
    }
    return rows;
  }

  function showRecord(data) {
    if (!data.record || shownRecord === data.record.started_at) return;
    shownRecord = data.record.started_at;
    const table = $("side-by-side");
    table.replaceChildren();
    const head = table.insertRow();
    for (const h of ["", MP.t("teach.active"), MP.t("teach.candidate") + " " + data.version]) {
      const th = document.createElement("th"); th.textContent = h; head.appendChild(th);
    }
    for (const [name, a, c] of sideRows(data.record)) {
      const tr = table.insertRow();
      for (const v of [name, a, c]) tr.insertCell().textContent = v;
    }
    const box = $("disagreements");
    box.replaceChildren();
    for (const row of data.record.disagreements.filter((r) => r.image)) {
      const fig = document.createElement("figure");
      const img = document.createElement("img");
      img.src = "/api/teach/disagree/" + row.image;
      img.alt = row.truth;
      const cap = document.createElement("figcaption");
      cap.textContent = MP.t("teach.disagree_caption", {truth: row.truth,
        active: row.active.score.toFixed(3), candidate: row.candidate.score.toFixed(3),
        right: MP.t("teach." + row.right)});
      fig.append(img, cap);
      box.appendChild(fig);
    }
    preview = data.preview;
    const slider = $("threshold");
    slider.value = String(preview.threshold);
    slider.disabled = root.dataset.mayEdit !== "yes";
    showTradeoff();
  }

  async function refresh() {
    if (root.dataset.hasDesk !== "yes") return;
    try {
      const s = await MP.getJSON("/api/teach");
      showDataset(s.dataset);
      showJob(s.job);
      const v = s.validation;
      $("validate-status").textContent = v.state === "idle" ? "" : MP.t("teach.job." + v.state)
        + (v.error ? ": " + v.error : "");
      root.dataset.validation = v.state;
      $("validate").disabled = !s.can_validate || v.state === "running";
      // The record (and the slider's table) once per candidate and finished validation, not every second.
      const key = s.candidate + ":" + (v.finished_at || "");
      if (v.state !== "running" && s.candidate && key !== recordKey) {
        recordKey = key;
        showRecord(await MP.getJSON("/api/teach/validation"));
      }
    } catch (e) { $("train-status").textContent = String(e); }
  }

  async function post(url, body, status) {
    const r = await MP.postJSON(url, body || {});
    $(status).textContent = r.status === 200 ? "" : (r.data.error || ("HTTP " + r.status));
    $(status).className = "state" + (r.status === 200 ? "" : " bad");
    refresh();
    return r;
  }

  $("train").addEventListener("click", () => post("/api/teach/train", {}, "train-status"));
  $("cancel").addEventListener("click", () => post("/api/teach/cancel", {}, "train-status"));
  $("validate").addEventListener("click", () => { shownRecord = null; post("/api/teach/validate", {}, "validate-status"); });
  $("threshold").addEventListener("input", showTradeoff);
  $("save-threshold").addEventListener("click", async () => {
    const r = await post("/api/teach/threshold", {threshold: Number($("threshold").value)}, "threshold-status");
    if (r.status === 200) {
      $("threshold-status").textContent = MP.t("teach.threshold_saved", {value: r.data.saved.toFixed(3)});
      $("threshold-status").className = "state good";
      preview.threshold = r.data.saved;
      showTradeoff();
    }
  });
  refresh();
  setInterval(refresh, 1000);
})();
