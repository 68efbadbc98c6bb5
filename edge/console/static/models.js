// Models page: promote / roll back / mark a candidate (engineers; the server checks the role anyway).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("models-status");
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async () => {
      const action = button.dataset.action;
      const body = button.dataset.version ? {version: button.dataset.version} : {};
      for (const b of document.querySelectorAll("button[data-action]")) b.disabled = true;
      status.textContent = MP.t("models.working");
      const answer = await MP.postJSON("/api/models/" + action, body);
      if (answer.status === 200) { location.reload(); return; }
      status.textContent = answer.data.error || ("HTTP " + answer.status);
      for (const b of document.querySelectorAll("button[data-action]")) b.disabled = false;
    });
  }
});
