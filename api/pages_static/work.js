/* Rounds: a visit (走访) is one POST with a retry key; a patrol (巡查) sends its GPS points
   in pieces as the walk goes. Points are numbered (seq) and kept in localStorage until the
   server has them, so a lost connection loses nothing and a resent piece stores nothing
   twice (the server skips numbers it has). */
"use strict";
(function () {
  const { api, toast } = window.geogrid;
  const STORE = "geogrid.patrol";
  const PIECE = 20;
  const visit = document.getElementById("visit-form");
  visit.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {
      grid: document.getElementById("v-grid").value,
      household: document.getElementById("v-household").value.trim(),
      note: document.getElementById("v-note").value.trim() || null,
      visited_at: new Date().toISOString(),
      key: crypto.randomUUID(),
    };
    if (!body.grid || !body.household) { toast("请选择网格并填写走访户。"); return; }
    try { await api("POST", "/rounds/visits", body); visit.reset(); toast("走访已保存"); } catch (e) { toast(e.message); }
  });

  const state = document.getElementById("patrol-state");
  const startBtn = document.getElementById("patrol-start");
  const stopBtn = document.getElementById("patrol-stop");
  let patrol = JSON.parse(localStorage.getItem(STORE) || "null");
  let watch = null;
  function save() { localStorage.setItem(STORE, JSON.stringify(patrol)); }
  function show() {
    startBtn.disabled = !!patrol;
    stopBtn.disabled = !patrol;
    state.textContent = patrol ? "巡查中：已记录 " + patrol.next + " 个点，待上传 " + patrol.queue.length + " 个" : "";
  }
  async function flush() {
    if (!patrol) return;
    if (!patrol.id) {   // the start was not answered: send it again (same key, one patrol)
      try {
        const p = await api("POST", "/rounds/patrols", { grid: patrol.grid, started_at: patrol.started, key: patrol.key });
        patrol.id = p.id;
        save();
      } catch (e) { return; }
    }
    while (patrol.queue.length) {
      const piece = patrol.queue.slice(0, PIECE);
      try {
        await api("POST", "/rounds/patrols/" + patrol.id + "/points", { points: piece });
      } catch (e) { return; }   // offline: the points stay queued
      patrol.queue = patrol.queue.slice(piece.length);
      save();
    }
    show();
  }
  function onPosition(pos) {
    patrol.queue.push({ seq: patrol.next++, lon: pos.coords.longitude, lat: pos.coords.latitude,
      at: new Date(pos.timestamp).toISOString(), accuracy: pos.coords.accuracy });
    save();
    show();
    if (patrol.queue.length >= PIECE) flush();
  }
  function follow() {
    if (navigator.geolocation && watch === null) {
      watch = navigator.geolocation.watchPosition(onPosition, () => {}, { enableHighAccuracy: true });
    }
  }
  startBtn.addEventListener("click", async () => {
    const grid = document.getElementById("p-grid").value;
    if (!grid) { toast("请选择网格。"); return; }
    patrol = { key: crypto.randomUUID(), grid: grid, next: 0, queue: [], id: null, started: new Date().toISOString() };
    save();
    try {
      const p = await api("POST", "/rounds/patrols", { grid: grid, started_at: patrol.started, key: patrol.key });
      patrol.id = p.id;
      save();
    } catch (e) { toast(e.message); }
    follow();
    show();
  });
  stopBtn.addEventListener("click", async () => {
    if (watch !== null) navigator.geolocation.clearWatch(watch);
    watch = null;
    await flush();
    if (patrol.queue.length) { toast("还有点未上传，联网后将自动上传。"); return; }
    try {
      await api("POST", "/rounds/patrols/" + patrol.id + "/end", { ended_at: new Date().toISOString() });
      patrol = null;
      localStorage.removeItem(STORE);
      toast("巡查已结束");
    } catch (e) { toast(e.message); }
    show();
  });
  window.addEventListener("online", flush);
  if (patrol) { follow(); flush(); }
  show();
})();
