// Live view: asks the station at the chosen rate for its state, which brings the newest picture only
// when it is newer than the one shown, and draws each cavity's ROI with its last verdict over it;
// the page is redrawn only when something on it changed.
"use strict";
(() => {
  const canvas = document.getElementById("view");
  const ctx2d = canvas.getContext("2d");
  const fps = document.getElementById("fps");
  const heat = document.getElementById("heatmap");
  const list = document.getElementById("verdicts");
  const image = new Image();
  let shownKey = "";  // the picture on the canvas: frame/heatmap/lost, as the station names it
  let drawnKey = null;  // the picture and the verdicts last drawn
  let state = null;
  const COLOURS = {OK: "#2ca02c", NG: "#d62728", NO_DECISION: "#ff9800"};

  function verdictText(c) {
    if (!c.decision) return MP.t("live.no_verdict");
    let s = MP.label("decision", c.decision);
    if (c.decision === "NG") s += " " + MP.label("defect", c.defect);
    if (c.decision === "NO_DECISION") s += " " + MP.label("reason", c.reason);
    if (c.score !== null && c.score !== undefined) s += " · " + MP.t("live.score") + " " + c.score.toFixed(2);
    return s;
  }

  const MIN_WIDTH_PX = 800;  // small frames are drawn larger, so the labels stay readable

  function draw() {
    if (!state || !image.complete || !image.naturalWidth) return;
    const k = Math.max(1, MIN_WIDTH_PX / image.naturalWidth);
    const width = Math.round(image.naturalWidth * k), height = Math.round(image.naturalHeight * k);
    if (canvas.width !== width || canvas.height !== height) {  // a resize clears and reallocates it
      canvas.width = width;
      canvas.height = height;
    }
    ctx2d.drawImage(image, 0, 0, canvas.width, canvas.height);
    ctx2d.lineWidth = 3;
    ctx2d.font = "bold 14px sans-serif";
    for (const c of state.cavities) {
      const [x, y, w, h] = (c.roi || [0, 0, image.naturalWidth, image.naturalHeight]).map((v) => v * k);
      const colour = state.camera.lost ? "#888" : (COLOURS[c.decision] || "#999");
      ctx2d.strokeStyle = colour;
      ctx2d.strokeRect(x, y, w, h);
      ctx2d.save();
      ctx2d.beginPath();
      ctx2d.rect(x, y, w, 40);
      ctx2d.clip();
      ctx2d.fillStyle = "rgba(0,0,0,0.65)";
      ctx2d.fillRect(x, y, w, 40);
      ctx2d.fillStyle = colour === "#d62728" ? "#ff6b6b" : colour;
      ctx2d.fillText(MP.t("cavity.n", {n: c.id}), x + 5, y + 16);
      ctx2d.fillText(verdictText(c), x + 5, y + 34);
      ctx2d.restore();
    }
    if (state.camera.lost) {
      ctx2d.fillStyle = "rgba(180,0,0,0.85)";
      ctx2d.fillRect(0, canvas.height - 34, canvas.width, 34);
      ctx2d.fillStyle = "#fff";
      ctx2d.font = "bold 18px sans-serif";
      ctx2d.fillText(MP.t("live.camera_lost", {time: MP.clock(state.frame_time_s)}), 10, canvas.height - 11);
    }
  }

  function showList() {
    list.replaceChildren();
    for (const c of state.cavities) {
      const li = document.createElement("li");
      li.dataset.cavity = c.id;
      li.dataset.decision = c.decision || "";
      li.dataset.seq = c.seq === undefined ? "" : c.seq;
      li.className = "d-" + (c.decision || "none");
      li.textContent = MP.t("cavity.n", {n: c.id}) + ": " + verdictText(c);
      list.appendChild(li);
    }
    document.getElementById("frame-id").textContent = state.frame_id === null ? "–" : state.frame_id;
    document.getElementById("frame-time").textContent = MP.clock(state.frame_time_s);
    const cam = document.getElementById("camera-state");
    cam.textContent = state.camera.lost ? MP.t("live.camera_lost", {time: MP.clock(state.frame_time_s)})
      : MP.t("live.camera_ok");
    cam.className = "state " + (state.camera.lost ? "bad" : "good");
    document.getElementById("no-frame").hidden = state.frame_id !== null;
  }

  async function tick() {
    const started = performance.now();
    try {
      const query = new URLSearchParams({heatmap: heat.checked ? 1 : 0, shown: shownKey});
      state = await MP.getJSON("/api/live/state?" + query);
      if (state.picture) {  // never more frames than the camera gives
        await new Promise((resolve) => {
          image.onload = image.onerror = resolve;
          image.src = "data:image/jpeg;base64," + state.picture.jpeg_base64;
        });
        shownKey = state.picture.key;
        canvas.dataset.shown = shownKey;
        canvas.dataset.frames = Number(canvas.dataset.frames || 0) + 1;  // pictures shown since loaded
      }
      const key = JSON.stringify([shownKey, state.frame_id, state.camera, state.cavities]);
      if (key !== drawnKey) {
        showList();
        draw();
        drawnKey = key;
      }
    } catch (e) {
      document.getElementById("camera-state").textContent = MP.t("live.no_answer");
      drawnKey = null;  // redraw all once the station answers again
    }
    const periodMs = 1000 / Number(fps.value);
    setTimeout(tick, Math.max(0, periodMs - (performance.now() - started)));
  }
  heat.addEventListener("change", () => { shownKey = ""; });
  tick();
})();
