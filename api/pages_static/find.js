/* 查网格: an address, the browser's location or a click on the map -> GET /locate; the
   answer is the grid chain on the map and the signboard. A weak address match lists the
   registry's candidates (never a guess). The URL ?grid=CODE is the shareable answer. */
"use strict";
(function () {
  const { api, escape, toast } = window.geogrid;
  const view = window.geogridMap("map");
  const answer = document.getElementById("answer");
  const candidates = document.getElementById("candidates");

  function person(p, label) {
    if (!p) return "<tr><th>" + label + "</th><td>未设置</td></tr>";
    const phone = p.phone ? '<a href="tel:' + escape(p.phone) + '">' + escape(p.phone) + "</a>" : "—";
    return "<tr><th>" + label + "</th><td>" + escape(p.name) + "</td><td>" + phone + "</td></tr>";
  }
  async function drawChain(chain) {
    for (const g of chain) {
      try {
        const feature = await api("GET", "/grids/" + g.code);
        await view.grid(feature, g === chain[chain.length - 1] ? undefined : { color: "#777", weight: 1, fillOpacity: 0 });
      } catch (e) { /* a grid we may not draw: the signboard still answers */ }
    }
  }
  function showBoard(board) {
    const chain = board.chain || [];
    const duty = board.on_duty
      ? escape(board.on_duty.name) + "（" + board.on_duty.post + "岗）" +
        (board.on_duty.phone ? ' <a href="tel:' + escape(board.on_duty.phone) + '">' + escape(board.on_duty.phone) + "</a>" : "")
      : escape(board.on_duty_label);
    const party = (board.party_organisations || []).map((p) => escape(p.name)).join("、") || "—";
    answer.innerHTML =
      '<h2 id="grid-name">' + escape(board.grid.name) + "</h2>" +
      '<p class="meta">网格编码 <span id="grid-code">' + escape(board.grid.code) + "</span> · " +
      chain.map((g) => escape(g.name)).join(" › ") + "</p>" +
      '<div class="board"><table>' + person(board.post_a, "A岗网格员") + person(board.post_b, "B岗网格员") + "</table></div>" +
      '<p>今日在岗：<strong id="on-duty">' + duty + "</strong></p>" +
      "<p>网格党组织：" + party + "</p>" +
      '<p><a href="/report?grid=' + escape(board.grid.code) + '">向本网格报事</a> · ' +
      '<a href="/find?grid=' + escape(board.grid.code) + '">分享本网格</a></p>';
    const query = new URLSearchParams(location.search);
    query.set("grid", board.grid.code);
    history.replaceState(null, "", "/find?" + query.toString());
    view.clear();
    drawChain(chain);
  }
  async function locate(params) {
    candidates.innerHTML = "";
    try {
      const found = await api("GET", "/locate?" + new URLSearchParams(params));
      if (!found.signboard) { answer.textContent = "该位置不在任何网格内。"; return; }
      const board = await api("GET", "/grids/" + found.signboard.grid.code + "/signboard");
      showBoard(board);
      view.marker(found.lat, found.lon);
    } catch (e) {
      const list = e.problem && e.problem.candidates;
      if (list && list.length) {
        candidates.innerHTML = "<p>没有找到确切的地址，您要找的是：</p><ul>" +
          list.map((c, i) => '<li><button type="button" class="link cand" data-i="' + i + '">' + escape(c.full_text) + "</button></li>").join("") + "</ul>";
        candidates.querySelectorAll(".cand").forEach((b) => b.addEventListener("click", () => {
          const c = list[Number(b.dataset.i)];
          locate({ lon: c.lon, lat: c.lat, crs: "wgs84" });
        }));
      } else {
        answer.textContent = e.message;
      }
    }
  }
  document.getElementById("find-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const address = document.getElementById("address").value.trim();
    if (address) locate({ address: address });
  });
  document.getElementById("locate-me").addEventListener("click", () => {
    if (!navigator.geolocation) { toast("此浏览器不能定位，请输入地址或点击地图。"); return; }
    navigator.geolocation.getCurrentPosition(
      (pos) => locate({ lon: pos.coords.longitude, lat: pos.coords.latitude, crs: "wgs84" }),
      () => toast("未能获取位置，请输入地址或点击地图。"),
      { enableHighAccuracy: true, timeout: 10000 }
    );
  });
  view.map.on("click", (event) => locate({ lon: event.latlng.lng, lat: event.latlng.lat, crs: view.crs }));
  const shared = answer.dataset.grid;
  if (shared) api("GET", "/grids/" + shared + "/signboard").then(showBoard, (e) => { answer.textContent = e.message; });
})();
