/* Shared by every page: JSON calls with the session's CSRF token, the toast, logout, the
   district switcher. Errors are problem+json: the page shows their `detail`. */
"use strict";
window.geogrid = (function () {
  function cookie(name) {
    const hit = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return hit ? decodeURIComponent(hit.slice(name.length + 1)) : "";
  }
  function toast(message) {
    const el = document.getElementById("toast");
    el.textContent = message;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { el.textContent = ""; }, 6000);
  }
  async function api(method, url, body, headers) {
    const init = { method: method, headers: Object.assign({ Accept: "application/json" }, headers || {}) };
    const csrf = cookie("geogrid_csrf");
    if (csrf && method !== "GET") init.headers["X-CSRF-Token"] = csrf;
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
    if (!response.ok) {
      const error = new Error((data && data.detail) || ("HTTP " + response.status));
      error.status = response.status;
      error.problem = data;
      throw error;
    }
    return data;
  }
  document.addEventListener("DOMContentLoaded", function () {
    const logout = document.getElementById("logout");
    if (logout) logout.addEventListener("click", async function () {
      await api("POST", "/logout");
      location.href = "/find";
    });
    document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.submit(); });
    });
  });
  function escape(value) {
    const div = document.createElement("div");
    div.textContent = value == null ? "" : String(value);
    return div.innerHTML;
  }
  return { api: api, toast: toast, cookie: cookie, escape: escape };
})();
