/* A Leaflet map with the maps' default basemap, "blank" (no tiles: pages work with no
   internet); `?basemap=osm` on the page URL draws OpenStreetMap tiles where the network has
   them, as the map pages do. */
"use strict";
window.geogridMap = function (elementId) {
  const map = L.map(elementId, { keyboard: true }).setView([34.51, 109.77], 11);
  const basemap = new URLSearchParams(location.search).get("basemap") || "blank";
  if (basemap === "osm") {
    L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", { maxZoom: 19, attribution: "&copy; OpenStreetMap" }).addTo(map);
  }
  map.attributionControl.setPrefix("");
  const layer = L.featureGroup().addTo(map);
  return {
    map: map,
    clear: function () { layer.clearLayers(); },
    marker: function (lat, lon) { L.circleMarker([lat, lon], { radius: 7, color: "#1a56c4" }).addTo(layer); },
    grid: function (feature, style) {
      const shape = L.geoJSON(feature, { style: style || { color: "#8f1d1d", weight: 2, fillOpacity: 0.08 } }).addTo(layer);
      map.fitBounds(layer.getBounds(), { maxZoom: 17 });
      return shape;
    },
  };
};
