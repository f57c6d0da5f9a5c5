/* A Leaflet map with the basemap the page was asked for (?basemap=, as on the /maps pages):
   its tile layers come from the server (geogrid.maps.basemaps.page_basemap, in the page's
   #basemap JSON), blank by default so the pages work with no internet. Over Amap the vector
   layers are drawn in GCJ-02: stored WGS 84 geometries are shifted by the server's one rule
   (POST /maps/shift) and a clicked point is GCJ-02 (`view.crs`, sent as the API's crs=). */
"use strict";
window.geogridMap = function (elementId) {
  const source = document.getElementById("basemap");
  const basemap = source ? JSON.parse(source.textContent) : { basemap: "blank", crs: "wgs84", tiles: [] };
  const map = L.map(elementId, { keyboard: true }).setView([34.51, 109.77], 11);
  const tiles = basemap.tiles.map(function (t) {
    const options = { maxZoom: t.max_zoom, attribution: t.attribution };
    if (t.subdomains) options.subdomains = t.subdomains;
    return L.tileLayer(t.url, options).addTo(map);
  });
  map.attributionControl.setPrefix("");
  const layer = L.featureGroup().addTo(map);
  const element = document.getElementById(elementId);
  element.dataset.basemap = basemap.basemap;
  element.dataset.crs = basemap.crs;

  function shown(geojson) {
    if (basemap.crs === "wgs84") return Promise.resolve(geojson);
    return window.geogrid.api("POST", "/maps/shift?basemap=" + encodeURIComponent(basemap.basemap), geojson);
  }
  const view = {
    map: map,
    layer: layer,
    tiles: tiles,
    basemap: basemap.basemap,
    /** the crs of a point clicked on this map, for the API's crs= */
    crs: basemap.crs,
    clear: function () { layer.clearLayers(); },
    /** a point clicked on the map: already in the map's coordinates */
    markerShown: function (latlng) { return L.circleMarker(latlng, { radius: 7, color: "#1a56c4" }).addTo(layer); },
    /** a stored (WGS 84) point */
    marker: function (lat, lon) {
      return shown({ type: "Point", coordinates: [lon, lat] }).then(function (p) {
        return view.markerShown([p.coordinates[1], p.coordinates[0]]);
      });
    },
    /** a stored (WGS 84) GeoJSON feature */
    grid: function (feature, style) {
      return shown(feature).then(function (f) {
        const shape = L.geoJSON(f, { style: style || { color: "#8f1d1d", weight: 2, fillOpacity: 0.08 } }).addTo(layer);
        map.fitBounds(layer.getBounds(), { maxZoom: 17 });
        return shape;
      });
    },
  };
  window.geogridView = view;
  return view;
};
