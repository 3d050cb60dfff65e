// The live panel: server-sent events from /live/events update the table row of each device.
// Without JavaScript the table stays as the server drew it and the status line says why.
(function () {
  "use strict";
  var table = document.getElementById("live-table");
  var status = document.getElementById("live-status");
  if (!table || !status || !window.EventSource) { return; }
  var lang = table.getAttribute("data-lang") || "en";
  var numberFormat = new Intl.NumberFormat(lang, { maximumFractionDigits: 3 });
  var timeFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" });

  function say(key) { status.textContent = status.getAttribute("data-" + key) || key; }
  function row(deviceId) {
    var rows = table.querySelectorAll("tr[data-device]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-device") === deviceId) { return rows[i]; }
    }
    return null;
  }
  function set(tr, cls, text) {
    var cell = tr.querySelector("." + cls);
    if (cell) { cell.textContent = text; }
  }
  function flash(tr) {
    tr.classList.remove("live-fresh");
    void tr.offsetWidth; // restart the animation
    tr.classList.add("live-fresh");
  }

  say("connecting");
  var source = new EventSource("/live/events");
  source.addEventListener("open", function () { say("connected"); });
  source.addEventListener("error", function () { say("disconnected"); });
  source.addEventListener("status", function (e) {
    var data = JSON.parse(e.data);
    say(data.connected ? "connected" : "disconnected");
  });
  source.addEventListener("reading", function (e) {
    var r = JSON.parse(e.data);
    var tr = row(r.device_id);
    if (!tr) { return; }
    set(tr, "live-register", r.register + " (" + r.kind + ")");
    set(tr, "live-value", numberFormat.format(r.value) + " " + r.unit);
    set(tr, "live-at", timeFormat.format(new Date(r.ts)));
    set(tr, "live-quality", r.quality);
    flash(tr);
  });
  source.addEventListener("trip", function (e) {
    var trip = JSON.parse(e.data);
    var tr = row(trip.device_id);
    if (!tr) { return; }
    set(tr, "live-register", "trip " + trip.trip_id);
    set(tr, "live-value", numberFormat.format(trip.distance_km) + " km");
    set(tr, "live-at", timeFormat.format(new Date(trip.end)));
    set(tr, "live-quality", trip.events + " events");
    flash(tr);
  });
})();
