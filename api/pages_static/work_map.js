/* The worker's queue on a map: the points come with the page, already in the basemap's
   coordinates (the server shifts them to GCJ-02 for Amap). */
"use strict";
(function () {
  const points = JSON.parse(document.getElementById("issue-points").textContent);
  const view = window.geogridMap("map");
  points.forEach(function (p) {
    const color = p.overdue ? "#b00020" : "#1a56c4";
    view.markerShown([p.lat, p.lon]).setStyle({ color: color }).bindTooltip(p.label);
  });
  if (points.length) view.map.fitBounds(view.layer.getBounds(), { maxZoom: 16, padding: [20, 20] });
})();
