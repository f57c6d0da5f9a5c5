/* 我要报事: one random key per submission (crypto.randomUUID) is the idempotency key, so a
   double tap or a retry files one issue; an unsent report is kept in localStorage and sent
   again when the page is opened or the network returns. Photos are resized in the browser
   (longest side 1600 px, JPEG) before upload. */
"use strict";
(function () {
  const { api, toast } = window.geogrid;
  const form = document.getElementById("report-form");
  const view = window.geogridMap("map");
  const where = document.getElementById("where");
  const STORE = "geogrid.pendingReport";
  let point = null;
  let sending = false;

  // a point in `crs`: WGS 84 from the GPS, the map's own (GCJ-02 over Amap) from a click
  function setPoint(lon, lat, label, crs) {
    point = { lon: lon, lat: lat, crs: crs };
    view.clear();
    if (crs === view.crs) view.markerShown([lat, lon]); else view.marker(lat, lon).catch(() => {});
    where.textContent = label + "：" + lon.toFixed(6) + ", " + lat.toFixed(6);
  }
  view.map.on("click", (e) => setPoint(e.latlng.lng, e.latlng.lat, "地图上选择的位置", view.crs));
  document.getElementById("use-gps").addEventListener("click", () => {
    if (!navigator.geolocation) { toast("此浏览器不能定位，请填写地址或点击地图。"); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => setPoint(p.coords.longitude, p.coords.latitude, "我的位置", "wgs84"),
      () => toast("未能获取位置，请填写地址或点击地图。"),
      { enableHighAccuracy: true, timeout: 10000 }
    );
  });
  if (form.dataset.grid) {
    api("GET", "/grids/" + form.dataset.grid).then((f) => view.grid(f)).catch(() => {});
  }

  function resize(file) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(file);
      const img = new Image();
      img.onload = () => {
        const scale = Math.min(1, 1600 / Math.max(img.width, img.height));
        const canvas = document.createElement("canvas");
        canvas.width = Math.round(img.width * scale);
        canvas.height = Math.round(img.height * scale);
        canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("resize"))), "image/jpeg", 0.85);
      };
      img.onerror = () => reject(new Error("图片无法读取"));
      img.src = url;
    });
  }
  function blobToDataUrl(blob) {
    return new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(blob); });
  }
  // decoded here, not with fetch(dataUrl): the pages' CSP (connect-src 'self') refuses data: URLs
  function dataUrlToBlob(url) {
    const comma = url.indexOf(",");
    const type = url.slice(5, comma).split(";")[0] || "image/jpeg";
    const bytes = atob(url.slice(comma + 1));
    const buffer = new Uint8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) buffer[i] = bytes.charCodeAt(i);
    return new Blob([buffer], { type: type });
  }

  async function send(pending) {
    const answer = await api("POST", "/report/submit", pending.report);
    for (let i = pending.sentPhotos || 0; i < pending.photos.length; i++) {
      const data = new FormData();
      data.append("file", dataUrlToBlob(pending.photos[i]), "photo" + i + ".jpg");
      try {
        await api("POST", "/report/" + answer.token + "/photos", data);
      } catch (e) {
        if (e.status !== 409) throw e;   // already has its photos (a resend): go on
      }
      pending.sentPhotos = i + 1;
      localStorage.setItem(STORE, JSON.stringify(pending));
    }
    localStorage.removeItem(STORE);
    location.href = answer.track_url;
  }
  async function retryPending() {
    const raw = localStorage.getItem(STORE);
    if (!raw || sending) return;
    document.getElementById("pending").hidden = false;
    sending = true;
    try { await send(JSON.parse(raw)); } catch (e) { if (e.status && e.status < 500) { localStorage.removeItem(STORE); toast(e.message); } } finally { sending = false; }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (sending) return;   // a second tap while the first is on its way files nothing
    const address = document.getElementById("r-address").value.trim();
    const category = document.getElementById("r-category").value;
    const description = document.getElementById("r-description").value.trim();
    if (!point && !address) { toast("请选择位置：定位、填写地址或点击地图。"); return; }
    if (!category || !description) { toast("请选择问题类别并填写描述。"); return; }
    const files = Array.from(document.getElementById("r-photos").files).slice(0, 3);
    const report = {
      key: crypto.randomUUID(),
      category: category,
      description: description,
      consent: document.getElementById("r-consent").checked,
    };
    if (point) { report.lon = point.lon; report.lat = point.lat; report.crs = point.crs; } else { report.address = address; }
    const name = document.getElementById("r-name").value.trim();
    const phone = document.getElementById("r-phone").value.trim();
    if (name) report.reporter_name = name;
    if (phone) report.reporter_phone = phone;
    if ((name || phone) && !report.consent) { toast("留下联系方式前，请阅读并同意个人信息保护说明。"); return; }
    sending = true;
    document.getElementById("submit").disabled = true;
    const photos = [];
    for (const f of files) photos.push(await blobToDataUrl(await resize(f)));
    const pending = { report: report, photos: photos, sentPhotos: 0 };
    localStorage.setItem(STORE, JSON.stringify(pending));
    try {
      await send(pending);
    } catch (e) {
      if (!e.status || e.status >= 500) {
        document.getElementById("pending").hidden = false;
        toast("网络不通，报事已保存，联网后将自动重发。");
      } else {
        localStorage.removeItem(STORE);
        toast(e.message);
      }
      document.getElementById("submit").disabled = false;
    } finally {
      sending = false;
    }
  });
  window.addEventListener("online", retryPending);
  retryPending();
})();
