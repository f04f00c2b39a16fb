// Live queue: refresh the rows when the server says something changed (server-sent events),
// or every 2 s when the stream is unavailable or refused. A new emergency plays a short alarm.
(function () {
  "use strict";
  var table = document.getElementById("queue");
  if (!table) { return; }
  var body = document.getElementById("queue-rows");
  var status = document.getElementById("live-status");
  var rowsUrl = table.getAttribute("data-rows-url");
  var streamUrl = table.getAttribute("data-stream-url");
  var seenEmergencies = emergencyIds();
  var pollTimer = null;
  var busy = false;

  function emergencyIds() {
    var ids = {};
    body.querySelectorAll("tr[data-bucket='0']").forEach(function (tr) { ids[tr.getAttribute("data-id")] = true; });
    return ids;
  }

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      var ctx = new Ctx();
      var osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.6);
    } catch (e) { /* no audio device: the red row still shows */ }
  }

  function refresh() {
    if (busy) { return; }
    busy = true;
    fetch(rowsUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) { return; }
        body.innerHTML = html;
        var now = emergencyIds();
        var fresh = Object.keys(now).some(function (id) { return !seenEmergencies[id]; });
        seenEmergencies = now;
        if (fresh) { beep(); }
        status.textContent = "live · updated " + new Date().toLocaleTimeString();
      })
      .catch(function () { status.textContent = "offline, retrying"; })
      .then(function () { busy = false; });
  }

  function startPolling() {
    if (pollTimer === null) { pollTimer = window.setInterval(refresh, 2000); }
  }

  function stopPolling() {
    if (pollTimer !== null) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  // The server refuses a stream (429) when this sign-in or the server has enough open: poll
  // meanwhile, and try the stream again a minute later.
  function openStream() {
    var source = new EventSource(streamUrl);
    source.addEventListener("changed", refresh);
    source.onopen = function () { stopPolling(); status.textContent = "live"; };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) {
        startPolling();
        window.setTimeout(openStream, 60000);
      }
    };
  }

  if (window.EventSource) {
    openStream();
  } else {
    startPolling();
  }
})();
