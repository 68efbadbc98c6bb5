// Review page: one part big, the next ones preloaded in a strip, one key press per label.
// Keys: 1 / Enter right, 2 should be OK, 3 then a class digit should be NG: <class>, Escape cancels,
// ArrowLeft undoes the last label, s skips. One POST per label; the next part is shown at once, and a
// refused label brings its part back with the reason.
"use strict";
(() => {
  const root = document.getElementById("review");
  const classes = root.dataset.classes ? root.dataset.classes.split(",") : [];
  const okClass = root.dataset.ok;
  const engineer = document.body.dataset.role === "engineer";
  const PRELOAD = 6;
  const st = {queue: [], current: null, done: [], skipped: new Set(), inflight: new Set(), picking: false,
              fetching: false, labelled: 0, revision: 0};
  const $ = (id) => document.getElementById(id);

  function preload(part) {
    for (const url of [part.crop, part.overlay]) { const img = new Image(); img.src = url; }
  }

  function facts(p) {
    const verdict = MP.label("decision", p.decision) + (p.defect ? " " + MP.label("defect", p.defect) : "") +
      (p.error ? " " + MP.label("reason", p.error) : "");
    MP.fillTable($("facts"), [
      [MP.t("review.verdict"), verdict, "d-" + p.decision],
      [MP.t("live.score"), p.score === null || p.score === undefined ? "–" : Number(p.score).toFixed(3)],
      [MP.t("gallery.cavity"), p.cavity], [MP.t("review.shot"), p.shot ?? "–"],
      [MP.t("review.part"), p.part_id ?? "–"], [MP.t("review.model"), p.model_version ?? "–"]]);
    Object.assign($("facts").dataset, {item: p.id, shot: p.shot ?? "", cavity: p.cavity,
                                       part: p.part_id ?? "", decision: p.decision, defect: p.defect || ""});
  }

  function render() {
    const p = st.current;
    $("shown").hidden = !p;
    $("review-empty").hidden = !!p;
    root.dataset.shown = p ? p.id : "";
    if (p) { $("crop").src = p.crop; $("overlay").src = p.overlay; facts(p); }
    const strip = $("strip");
    strip.replaceChildren(...st.queue.slice(0, PRELOAD).map((q) => {
      const img = document.createElement("img");
      img.src = q.overlay;
      img.alt = MP.label("decision", q.decision);
      return img;
    }));
  }

  function next() {
    st.current = st.queue.shift() || null;
    pick(false);
    render();
    if (st.queue.length < PRELOAD) refill();
  }

  function counts(c) {
    // Answers go out in parallel and their replies may cross: only counts newer than those shown count.
    if (!c || c.revision < st.revision) return;
    st.revision = c.revision;
    $("n-waiting").textContent = Math.max(0, c.waiting - st.inflight.size);
    $("n-labelled").textContent = c.labelled;
    $("n-dropped").textContent = c.dropped;
    $("drop-detail").textContent = MP.t("review.drop_detail", {ok: c.dropped_ok, ng: c.dropped_ng,
      failed: c.not_stored, nopic: c.no_picture});
  }

  async function refill() {
    if (st.fetching) return;
    st.fetching = true;
    try {
      const known = [...st.queue.map((q) => q.id), ...st.inflight, ...st.skipped];
      if (st.current) known.push(st.current.id);
      const data = await MP.getJSON("/api/review/parts?limit=12&skip=" + encodeURIComponent(known.join(",")));
      if (!data.review) return;
      for (const p of data.parts) {
        if (!known.includes(p.id)) { st.queue.push(p); preload(p); }
      }
      counts(data.counts);
      progress(data.collect);
      if (!st.current && st.queue.length) next(); else render();
    } finally {
      st.fetching = false;
    }
  }

  function say(text) { $("message").textContent = text || ""; }

  async function send(part, answer, defect) {
    st.inflight.add(part.id);
    const r = await MP.postJSON("/api/review/label", {item: part.id, answer, defect});
    st.inflight.delete(part.id);
    if (r.status === 200) {
      if (answer !== "undone") st.labelled += 1;
      root.dataset.labelled = st.labelled;
      counts(r.data.counts);
      return true;
    }
    say(r.data.error || ("HTTP " + r.status));
    return false;
  }

  async function label(answer, defect) {
    const part = st.current;
    if (!part || !engineer) { if (!engineer) say(MP.t("review.viewer_note")); return; }
    if (answer === "right" && part.decision === "NO_DECISION") { say(MP.t("review.err.no_class")); return; }
    say("");
    st.inflight.add(part.id);  // before next(): the refill it may start must not bring this part back
    st.done.push(part);  // in key order, whatever order the answers come back in: ← undoes this one
    next();  // the next part is on screen before the answer comes back
    part.pending = send(part, answer, defect);
    if (!await part.pending) {  // refused: the part comes back first
      const at = st.done.indexOf(part);
      if (at >= 0) st.done.splice(at, 1);
      if (st.current) st.queue.unshift(st.current);
      st.current = part;
      render();
    }
  }

  async function undo() {
    const part = st.done.pop();
    if (!part || !engineer) return;
    if (!await part.pending) return;  // its label was refused: nothing to undo
    if (await send(part, "undone")) {
      st.labelled -= 1;
      root.dataset.labelled = st.labelled;
      if (st.current) st.queue.unshift(st.current);
      st.current = part;
      render();
    } else {
      st.done.push(part);
    }
  }

  function pick(on) {
    st.picking = on;
    const list = $("class-keys");
    list.hidden = !on;
    if (!on) return;
    list.replaceChildren(...classes.map((c, i) => {
      const li = document.createElement("li");
      const key = document.createElement("kbd");
      key.textContent = String(i + 1);
      li.append(key, " " + MP.label("defect", c));
      li.dataset.class = c;
      return li;
    }));
  }

  document.addEventListener("keydown", (e) => {
    if (e.target.closest && e.target.closest("form")) return;  // typing in the collect form
    if (st.picking) {
      const n = Number(e.key);
      if (Number.isInteger(n) && n >= 1 && n <= classes.length) { e.preventDefault(); label("ng", classes[n - 1]); }
      else if (e.key === "Escape") pick(false);
      return;
    }
    if (e.key === "1" || e.key === "Enter") { e.preventDefault(); label("right"); }
    else if (e.key === "2") label("ok");
    else if (e.key === "3") { if (st.current) pick(true); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); undo(); }
    else if (e.key === "s" || e.key === "S") {
      if (st.current) { st.skipped.add(st.current.id); next(); }
    }
  });

  function progress(run) {
    const text = !run ? "" : MP.t(run.done ? "review.collect_done" : "review.collect_on",
      {filed: run.filed, count: run.count, label: MP.label("defect", run.label), who: run.who});
    $("c-progress").textContent = text;
    $("c-progress").dataset.filed = run ? run.filed : "";
  }

  const select = $("c-label");
  if (okClass) select.add(new Option(MP.t("review.collect_good"), okClass));
  for (const c of classes) select.add(new Option(MP.t("review.collect_defect", {label: MP.label("defect", c)}), c));
  $("collect").addEventListener("submit", async (e) => {
    e.preventDefault();
    const cavities = $("c-cavities").value.split(/[ ,]+/).filter(Boolean).map(Number);
    const r = await MP.postJSON("/api/review/collect", {label: select.value, count: Number($("c-count").value),
                                                        cavities});
    if (r.status === 200) progress(r.data.collect); else say(r.data.error || ("HTTP " + r.status));
  });
  $("c-stop").addEventListener("click", async () => {
    const r = await MP.postJSON("/api/review/collect", {stop: true});
    if (r.status === 200) progress(r.data.collect);
  });

  refill();
  setInterval(refill, 2000);
})();
