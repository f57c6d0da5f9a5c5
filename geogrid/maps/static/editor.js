/* geogrid boundary editor (/editor): Leaflet + Geoman, saving through the grids API.
 *
 * State lives in `editor` (exposed as window.geogridEditor for tests and for debugging):
 * the chosen parent, its children on the map, and the grid being edited (new or existing,
 * with the ETag it was read at). Validation is the server's: a 422 problem+json carries the
 * fault's location, marked on the map; a 412 means someone saved first and offers a reload.
 */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("editor-config").textContent);
  const $ = (id) => document.getElementById(id);
  const ACTOR = config.actor || "editor";
  const STYLE_PARENT = { color: "#8a1c1c", weight: 3, fill: false, dashArray: "6 4" };
  const STYLE_CHILD = { color: "#1f5f8b", weight: 1.5, fillColor: "#4a90c2", fillOpacity: 0.15 };
  const STYLE_SELECTED = { color: "#d9730d", weight: 3, fillOpacity: 0.3 };

  const map = L.map("map", { maxZoom: 19, zoomControl: true });
  map.fitBounds(config.bounds);
  map.pm.setLang("zh");
  map.pm.setGlobalOptions({
    snappable: true,
    snapDistance: 20,
    allowSelfIntersection: false,
    finishOn: null,
  });
  map.pm.addControls({
    position: "topleft",
    drawMarker: false,
    drawCircleMarker: false,
    drawPolyline: false,
    drawRectangle: false,
    drawPolygon: true,
    drawCircle: false,
    drawText: false,
    editMode: false,
    dragMode: false,
    cutPolygon: false,
    removalMode: false,
    rotateMode: false,
  });

  const editor = {
    map: map,
    parent: null, // {code, name, level, layer}
    children: L.featureGroup().addTo(map),
    faults: L.layerGroup().addTo(map),
    current: null, // {code|null, etag|null, layer, isNew}
    parents: [],
  };
  window.geogridEditor = editor;

  // --- messages -------------------------------------------------------------------------------

  function say(text, kind) {
    const box = $("message");
    box.className = kind || "";
    box.textContent = text;
  }

  function setState(state) {
    document.body.dataset.state = state;
  }

  // The page session's CSRF token: the server refuses a cookie-authenticated write without it.
  function csrfToken() {
    for (const part of document.cookie.split(";")) {
      const [name, ...rest] = part.trim().split("=");
      if (name === "geogrid_csrf") return decodeURIComponent(rest.join("="));
    }
    return "";
  }

  async function api(method, url, body, headers) {
    const options = { method: method, headers: Object.assign({ Accept: "application/json" }, headers || {}) };
    const csrf = csrfToken();
    if (csrf && method !== "GET") options.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch(url, options);
    let data = null;
    const text = await response.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = { detail: text }; }
    }
    return { status: response.status, ok: response.ok, data: data, etag: response.headers.get("ETag") };
  }

  // --- parents --------------------------------------------------------------------------------

  function fillParents(filter) {
    const select = $("parent");
    const term = (filter || "").trim();
    select.innerHTML = "";
    const shown = editor.parents.filter(
      (p) => !term || p.code.startsWith(term) || p.name.indexOf(term) >= 0
    );
    for (const p of shown.slice(0, 500)) {
      const option = document.createElement("option");
      option.value = p.code;
      option.textContent = (p.level === 2 ? "　" : "") + p.name + "（" + p.code + "）";
      select.appendChild(option);
    }
  }

  // The level-1 grids as context until a parent is chosen: the office sees the whole district
  // at once, and a click on a community picks it as the parent.
  const STYLE_CONTEXT = { color: "#7a7a7a", weight: 1, fillColor: "#cfd8dc", fillOpacity: 0.25 };
  const context = L.featureGroup().addTo(map);

  async function loadContext() {
    const result = await api("GET", "/grids?level=1&kind=general&limit=1000");
    if (!result.ok) return;
    L.geoJSON(result.data, {
      style: STYLE_CONTEXT,
      pmIgnore: true,
      onEachFeature: (feature, layer) => {
        layer.bindTooltip(feature.properties.name + "（" + feature.properties.code + "）");
        layer.on("click", () => {
          if (!editor.parent) selectParent(feature.properties.code);
        });
      },
    }).addTo(context);
  }

  async function loadParents() {
    const result = await api("GET", "/editor/parents?district=" + encodeURIComponent(config.district));
    if (!result.ok) {
      say("无法读取网格列表：" + ((result.data && result.data.detail) || result.status), "error");
      return;
    }
    editor.parents = result.data.parents;
    fillParents("");
    setState("parents");
  }

  function clearEditing() {
    if (editor.current) {
      const layer = editor.current.layer;
      if (layer.pm) layer.pm.disable();
      if (editor.current.isNew) map.removeLayer(layer);
      else layer.setStyle(STYLE_CHILD);
    }
    editor.current = null;
    editor.faults.clearLayers();
    $("grid-form").reset();
    $("form-title").textContent = "绘制新网格，或点击已有网格修改边界";
    $("save").disabled = true;
    $("cancel").disabled = true;
  }

  async function selectParent(code) {
    clearEditing();
    setState("loading");
    const [parent, kids] = await Promise.all([
      api("GET", "/grids/" + encodeURIComponent(code)),
      api("GET", "/grids/" + encodeURIComponent(code) + "/children"),
    ]);
    if (!parent.ok || !kids.ok) {
      say("无法读取网格 " + code + "：" + ((parent.data || kids.data || {}).detail || ""), "error");
      setState("parents");
      return;
    }
    if (editor.parent) map.removeLayer(editor.parent.layer);
    map.removeLayer(context);
    editor.children.clearLayers();
    // Not pmIgnore: the parent's edge is something to snap to.
    const layer = L.geoJSON(parent.data, { style: STYLE_PARENT, interactive: false });
    layer.addTo(map);
    editor.parent = { code: code, name: parent.data.properties.name, level: parent.data.properties.level, layer: layer };
    for (const feature of kids.data.features) addChild(feature);
    map.fitBounds(layer.getBounds(), { padding: [20, 20] });
    $("parent-info").textContent =
      editor.parent.name + "（" + code + "）：下级网格 " + kids.data.features.length + " 个";
    $("draw").disabled = false;
    say("");
    setState("ready");
  }

  function addChild(feature) {
    const group = L.geoJSON(feature, { style: STYLE_CHILD });
    group.eachLayer((layer) => {
      layer.feature = feature;
      layer.bindTooltip(feature.properties.name + "（" + feature.properties.code + "）");
      layer.on("click", () => editExisting(layer));
      editor.children.addLayer(layer);
    });
  }

  // --- editing --------------------------------------------------------------------------------

  function fillForm(props) {
    $("name").value = props.name || "";
    $("estate_type").value = props.estate_type || "";
    $("households").value = props.households == null ? "" : props.households;
    $("population").value = props.population == null ? "" : props.population;
  }

  async function editExisting(layer) {
    if (map.pm.globalDrawModeEnabled()) return; // a click of the drawing, not a choice
    if (editor.current && editor.current.layer === layer) return;
    clearEditing();
    const code = layer.feature.properties.code;
    const result = await api("GET", "/grids/" + encodeURIComponent(code));
    if (!result.ok) {
      say("无法读取网格 " + code + "：" + (result.data && result.data.detail), "error");
      return;
    }
    editor.current = { code: code, etag: result.etag, layer: layer, isNew: false };
    layer.setStyle(STYLE_SELECTED);
    layer.pm.enable({ snappable: true, allowSelfIntersection: false });
    fillForm(result.data.properties);
    $("form-title").textContent = "修改网格 " + code + "（拖动顶点调整边界）";
    $("save").disabled = false;
    $("cancel").disabled = false;
    setState("editing");
  }

  map.on("pm:create", (event) => {
    clearEditing();
    const layer = event.layer;
    editor.current = { code: null, etag: null, layer: layer, isNew: true };
    layer.setStyle(STYLE_SELECTED);
    layer.pm.enable({ snappable: true, allowSelfIntersection: false });
    $("form-title").textContent = "新网格（上级：" + editor.parent.code + "）";
    $("save").disabled = false;
    $("cancel").disabled = false;
    $("name").focus();
    setState("drawn");
  });

  $("draw").addEventListener("click", () => {
    clearEditing();
    map.pm.enableDraw("Polygon", { snappable: true, snapDistance: 20, allowSelfIntersection: false });
    setState("drawing");
  });
  $("cancel").addEventListener("click", () => {
    map.pm.disableDraw();
    clearEditing();
    setState("ready");
  });
  $("parent").addEventListener("change", (event) => selectParent(event.target.value));
  $("parent-search").addEventListener("input", (event) => fillParents(event.target.value));
  $("parent-search").addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      const first = $("parent").options[0];
      if (first) {
        $("parent").value = first.value;
        selectParent(first.value);
      }
    }
  });

  // --- saving ---------------------------------------------------------------------------------

  function properties() {
    const props = { name: $("name").value.trim() };
    const estate = $("estate_type").value;
    props.estate_type = estate || null;
    for (const key of ["households", "population"]) {
      const value = $(key).value;
      props[key] = value === "" ? null : Number(value);
    }
    return props;
  }

  function markFaults(problem) {
    editor.faults.clearLayers();
    const places = [];
    if (Array.isArray(problem.location)) places.push({ at: problem.location, text: problem.detail });
    for (const overlap of problem.overlaps || []) {
      if (Array.isArray(overlap.location)) {
        places.push({ at: overlap.location, text: "与网格 " + overlap.code + " 重叠 " + overlap.area_m2 + " m²" });
      }
    }
    let first = null;
    for (const place of places) {
      const marker = L.marker([place.at[1], place.at[0]], { pmIgnore: true, title: "问题位置" });
      const popup = document.createElement("div");
      popup.className = "fault-popup";
      popup.textContent = place.text;
      marker.bindPopup(popup);
      editor.faults.addLayer(marker);
      first = first || marker;
    }
    if (first) first.openPopup();
    return places.length;
  }

  function explainStale(code) {
    const box = $("message");
    box.className = "error";
    box.innerHTML = "";
    const div = document.createElement("div");
    div.className = "stale";
    div.textContent =
      "网格 " + code + " 已被他人修改并保存（您编辑的是旧版本），为避免覆盖对方的修改，本次未保存。" +
      "请重新加载最新版本后再修改。";
    const button = document.createElement("button");
    button.type = "button";
    button.id = "reload";
    button.textContent = "重新加载最新版本";
    button.addEventListener("click", () => reloadCurrent(code));
    div.appendChild(document.createElement("br"));
    div.appendChild(button);
    box.appendChild(div);
    setState("stale");
  }

  async function reloadCurrent(code) {
    const result = await api("GET", "/grids/" + encodeURIComponent(code));
    if (!result.ok) {
      say("无法重新加载网格 " + code, "error");
      return;
    }
    const layer = editor.current.layer;
    layer.pm.disable();
    const fresh = L.geoJSON(result.data).getLayers()[0];
    layer.setLatLngs(fresh.getLatLngs());
    layer.feature = result.data;
    editor.current.etag = result.etag;
    layer.pm.enable({ snappable: true, allowSelfIntersection: false });
    fillForm(result.data.properties);
    say("已加载网格 " + code + " 的最新版本（第 " + result.data.properties.version + " 版），可继续修改。", "ok");
    setState("editing");
  }

  $("grid-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const current = editor.current;
    if (!current) return;
    const props = properties();
    if (!props.name) {
      say("请填写网格名称。", "error");
      $("name").focus();
      return;
    }
    const geometry = current.layer.toGeoJSON().geometry;
    const reason = $("reason").value.trim() || undefined;
    $("save").disabled = true;
    setState("saving");
    say("正在保存…");
    let result;
    if (current.isNew) {
      props.parent = editor.parent.code;
      props.kind = "general";
      result = await api("POST", "/grids", { type: "Feature", geometry: geometry, properties: props, reason: reason }, { "X-Actor": ACTOR });
    } else {
      result = await api(
        "PATCH",
        "/grids/" + encodeURIComponent(current.code),
        { type: "Feature", geometry: geometry, properties: props, reason: reason },
        { "X-Actor": ACTOR, "If-Match": current.etag || "" }
      );
    }
    $("save").disabled = false;
    if (result.ok) {
      editor.faults.clearLayers();
      const code = result.data.properties.code;
      const saved = editor.parent.code;
      current.layer.pm.disable();
      if (current.isNew) map.removeLayer(current.layer);
      editor.current = null;
      await selectParent(saved);
      say("已保存：" + result.data.properties.name + "（" + code + "，第 " + result.data.properties.version + " 版）", "ok");
      setState("saved");
      return;
    }
    const problem = result.data || {};
    if (result.status === 412 || result.status === 428) {
      explainStale(current.code);
      return;
    }
    const marked = markFaults(problem);
    say(
      "未保存（" + result.status + "）：" + (problem.detail || "请求失败") +
        (marked ? "\n问题位置已在地图上标出。" : ""),
      "error"
    );
    setState("rejected");
  });

  // --- proposals (智能划网) ------------------------------------------------------------------

  const STYLE_PROPOSED = { color: "#b35806", weight: 2, dashArray: "5 4", fillColor: "#fdb863", fillOpacity: 0.2 };
  const STYLE_PROPOSED_EDITING = { color: "#7f3b08", weight: 3, dashArray: null, fillOpacity: 0.35 };
  editor.proposal = null; // {id, data, layer: featureGroup, editing: {index, layer}|null}

  function cell(row, text, tag) {
    const td = document.createElement(tag || "td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
  }

  function proposalTable(data) {
    const f = data.figures;
    const box = $("proposal-table");
    box.innerHTML = "";
    const table = document.createElement("table");
    table.id = "proposal-figures";
    const head = document.createElement("tr");
    for (const title of ["", "现状", "方案"]) cell(head, title, "th");
    table.appendChild(head);
    const sum = (xs) => xs.reduce((a, b) => a + b, 0);
    const rows = [
      ["网格数", f.grids_before, f.grids_after],
      ["户数合计", sum(f.households_before), sum(f.households_after)],
      ["各网格户数", f.households_before.join("、"), f.households_after.join("、")],
      ["所需网格员", f.workers_needed_before, f.workers_needed_after],
      ["标准带内占比", f.share_in_band_before, f.share_in_band_after],
      ["Gini", f.gini_before, f.gini_after],
    ];
    for (const values of rows) {
      const tr = document.createElement("tr");
      for (const v of values) cell(tr, v);
      table.appendChild(tr);
    }
    box.appendChild(table);
    const kept = document.createElement("p");
    kept.id = "proposal-kept";
    kept.textContent = "保留编码：" + ((f.codes_kept || []).join("、") || "无");
    box.appendChild(kept);
  }

  function showProposal(data) {
    if (editor.proposal && editor.proposal.layer) map.removeLayer(editor.proposal.layer);
    const layer = L.featureGroup().addTo(map);
    data.features.forEach((feature, index) => {
      L.geoJSON(feature, { style: STYLE_PROPOSED }).eachLayer((shape) => {
        shape.feature = feature;
        shape.proposalIndex = index;
        const p = feature.properties;
        shape.bindTooltip("方案网格 " + (index + 1) + (p.kept_code ? "（保留 " + p.kept_code + "）" : "（新）") +
          "：" + p.households + " 户，需网格员 " + p.workers_needed);
        shape.on("click", () => editProposed(shape));
        layer.addLayer(shape);
      });
    });
    editor.proposal = { id: data.id, data: data, layer: layer, editing: null };
    proposalTable(data);
    const draft = data.status === "draft";
    $("proposal-info").textContent =
      "方案 " + data.id + "（" + data.parent + "，" + (draft ? "草案" : data.status) + "）：" +
      data.features.length + " 个网格" + (draft ? "，点击方案网格拖动顶点" : "");
    $("proposal-apply").disabled = !draft;
    $("proposal-save").disabled = true;
  }

  async function loadProposal(id) {
    setState("loading");
    const result = await api("GET", "/proposals/" + encodeURIComponent(id));
    if (!result.ok) {
      say("无法读取方案 " + id + "：" + ((result.data && result.data.detail) || result.status), "error");
      setState(editor.parent ? "ready" : "parents");
      return;
    }
    await selectParent(result.data.parent);
    showProposal(result.data);
    say("");
    setState("proposal");
  }

  function editProposed(shape) {
    if (!editor.proposal || editor.proposal.data.status !== "draft") return;
    const editing = editor.proposal.editing;
    if (editing && editing.layer === shape) return;
    if (editing) {
      editing.layer.pm.disable();
      editing.layer.setStyle(STYLE_PROPOSED);
    }
    clearEditing();
    editor.proposal.editing = { index: shape.proposalIndex, layer: shape };
    shape.setStyle(STYLE_PROPOSED_EDITING);
    shape.pm.enable({ snappable: true, allowSelfIntersection: false });
    $("proposal-save").disabled = false;
    say("拖动方案网格 " + (shape.proposalIndex + 1) + " 的顶点，然后点击“保存顶点”。");
    setState("proposal-editing");
  }

  async function saveProposed() {
    const proposal = editor.proposal;
    if (!proposal || !proposal.editing) return;
    const { index, layer } = proposal.editing;
    const geometry = layer.toGeoJSON().geometry;
    $("proposal-save").disabled = true;
    setState("saving");
    const result = await api(
      "PATCH",
      "/proposals/" + proposal.id + "/features/" + index,
      { type: "Feature", geometry: geometry, properties: {} },
      { "X-Actor": ACTOR }
    );
    layer.pm.disable();
    if (!result.ok) {
      const problem = result.data || {};
      markFaults(problem);
      say("方案未保存（" + result.status + "）：" + (problem.detail || "请求失败"), "error");
      showProposal(proposal.data);
      setState("rejected");
      return;
    }
    showProposal(result.data);
    say("已保存方案 " + result.data.id + " 网格 " + (index + 1) + " 的新边界。", "ok");
    setState("proposal-saved");
  }

  async function applyProposal() {
    const proposal = editor.proposal;
    if (!proposal) return;
    $("proposal-apply").disabled = true;
    setState("saving");
    const result = await api("POST", "/proposals/" + proposal.id + "/apply", undefined, { "X-Actor": ACTOR });
    if (!result.ok) {
      const problem = result.data || {};
      say("方案未应用（" + result.status + "）：" + (problem.detail || "请求失败"), "error");
      $("proposal-apply").disabled = false;
      setState("rejected");
      return;
    }
    map.removeLayer(proposal.layer);
    editor.proposal = null;
    await selectParent(result.data.parent);
    $("proposal-table").innerHTML = "";
    $("proposal-info").textContent = "方案 " + result.data.id + " 已应用。";
    $("proposal-save").disabled = true;
    say("已应用方案 " + result.data.id + "：现有下级网格 " + editor.children.getLayers().length + " 个。", "ok");
    setState("applied");
  }

  $("proposal-load").addEventListener("click", () => {
    const id = $("proposal-id").value.trim();
    if (id) loadProposal(id);
  });
  $("proposal-save").addEventListener("click", saveProposed);
  $("proposal-apply").addEventListener("click", applyProposal);
  loadParents().then(() => {
    if (config.proposal) {
      $("proposal-id").value = config.proposal;
      loadProposal(config.proposal);
    }
  });
  loadContext();
})();
