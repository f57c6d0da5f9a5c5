/* 满意本: the resident's rating of a resolved issue; the page then shows the new state. */
"use strict";
(function () {
  const { api, toast } = window.geogrid;
  const form = document.getElementById("rate-form");
  if (!form) return;
  const token = document.getElementById("track").dataset.token;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=rating]:checked");
    if (!chosen) { toast("请选择一项评价。"); return; }
    try {
      await api("POST", "/track/" + token + "/rating", { rating: chosen.value });
      location.reload();
    } catch (e) { toast(e.message); }
  });
})();
