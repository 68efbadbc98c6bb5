// Shared by every page: the catalogue of the page's language, the CSRF token, the language switch.
"use strict";
const MP = (() => {
  const text = JSON.parse(document.getElementById("mp-text").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  function t(key, values) {
    let s = text[key];
    if (s === undefined) return key;
    for (const [k, v] of Object.entries(values || {})) s = s.split("{" + k + "}").join(String(v));
    return s;
  }
  // A label for a value from the station: a decision, a NO_DECISION reason, a defect class.
  function label(kind, value) {
    if (value === null || value === undefined) return "";
    const key = kind + "." + value;
    return text[key] === undefined ? String(value) : text[key];
  }
  async function getJSON(url) {
    const r = await fetch(url, {credentials: "same-origin", cache: "no-store"});
    if (r.status === 401) { location.href = "/login"; throw new Error("login"); }
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }
  async function postJSON(url, body) {
    const r = await fetch(url, {method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: {"content-type": "application/json", "x-csrf-token": csrf}});
    let data = {};
    try { data = await r.json(); } catch (e) { data = {}; }
    return {status: r.status, data};
  }
  function clock(epochS) {
    if (!epochS) return "–";
    return new Date(epochS * 1000).toLocaleTimeString(document.documentElement.lang, {hour12: false});
  }
  function cell(row, value, cls) {
    const td = document.createElement("td");
    td.textContent = value;
    if (cls) td.className = cls;
    row.appendChild(td);
  }
  // Rows of [label, value] into a table, replacing what it held.
  function fillTable(table, rows) {
    table.replaceChildren();
    for (const [name, value, cls] of rows) {
      const tr = table.insertRow();
      cell(tr, name);
      cell(tr, value, cls);
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    const lang = document.getElementById("lang");
    lang.addEventListener("change", () => {
      document.cookie = "mp_lang=" + lang.value + "; path=/; max-age=31536000; samesite=strict";
      location.reload();
    });
  });
  return {t, label, getJSON, postJSON, clock, fillTable, csrf};
})();
