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

  // The live cursor: with it the server sends only the rows changed since the last refresh
  // (and the ids that left the view); a full reload every minute catches deadlines passing.
  var since = table.getAttribute("data-since");
  var firstPage = table.getAttribute("data-first-page") === "1";
  var lastPage = table.getAttribute("data-last-page") === "1";
  var lastFull = Date.now();
  var FULL_EVERY = 60000;

  function sortKey(tr) {
    return (tr.getAttribute("data-sort") || "").split(" ").map(Number);
  }

  function compare(a, b) {
    for (var i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) { return a[i] < b[i] ? -1 : 1; }
    }
    return 0;
  }

  // Put changed rows in place: a row already shown is replaced or removed, a new one goes
  // where its sort key says if that falls inside the rows this page shows.
  function applyDelta(html) {
    var parsed = document.createElement("tbody");
    parsed.innerHTML = html;
    var shown = body.querySelectorAll("tr[data-sort]");
    var first = shown.length ? sortKey(shown[0]) : null;
    var last = shown.length ? sortKey(shown[shown.length - 1]) : null;
    Array.prototype.slice.call(parsed.querySelectorAll("tr[data-id]")).forEach(function (tr) {
      var old = body.querySelector("tr[data-id='" + tr.getAttribute("data-id") + "']");
      if (old) { old.parentNode.removeChild(old); }
      if (tr.getAttribute("data-gone")) { return; }
      var key = sortKey(tr);
      var inside = (firstPage || (first && compare(key, first) >= 0)) &&
        (lastPage || (last && compare(key, last) <= 0));
      if (!inside && !old) { return; }
      var placeholder = body.querySelector("tr:not([data-sort])");
      if (placeholder) { placeholder.parentNode.removeChild(placeholder); }
      var after = Array.prototype.slice.call(body.querySelectorAll("tr[data-sort]")).filter(
        function (row) { return compare(sortKey(row), key) > 0; })[0];
      body.insertBefore(tr, after || null);
    });
  }

  function refresh() {
    if (busy) { return; }
    busy = true;
    var full = !since || Date.now() - lastFull > FULL_EVERY;
    var url = full ? rowsUrl : rowsUrl + (rowsUrl.indexOf("?") < 0 ? "?" : "&") +
      "since=" + encodeURIComponent(since);
    var delta = false;
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.reload(); return null; }
        if (!r.ok) { return null; }
        since = r.headers.get("X-Live-Cursor") || null;
        delta = r.headers.get("X-Live-Delta") === "1";
        return r.text();
      })
      .then(function (html) {
        if (html === null || html === undefined) { return; }
        if (delta) {
          applyDelta(html);
          if (!body.querySelector("tr")) { since = null; }
        } else {
          body.innerHTML = html;
          lastFull = Date.now();
          firstPage = true;
          lastPage = false;
        }
        var now = emergencyIds();
        var fresh = Object.keys(now).some(function (id) { return !seenEmergencies[id]; });
        seenEmergencies = now;
        if (fresh) { beep(); }
        status.textContent = status.dataset.updated + " " + new Date().toLocaleTimeString([], { hour12: false });
      })
      .catch(function () { status.textContent = status.dataset.offline; })
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
    source.onopen = function () { stopPolling(); status.textContent = status.dataset.live; };
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

// 新建求助: the room field's type-ahead. As staff type a room code, a name or a phone number,
// the datalist fills with the community's rooms and known residents (their room as the value).
// Leaving the field with words that name exactly one room puts that room's code in it.
(function () {
  "use strict";
  var form = document.getElementById("intake");
  if (!form) { return; }
  var room = document.getElementById("intake-room");
  var list = document.getElementById("intake-rooms");
  var picked = document.getElementById("intake-picked");
  var community = document.getElementById("intake-community");
  var url = form.getAttribute("data-rooms-url");
  var timer = null;
  var asked = "";
  var choices = [];
  var pending = null;
  var settleWhenAnswered = false;

  function settle() {
    var text = room.value.trim();
    var exact = choices.filter(function (c) { return c.value === text; });
    var rooms = {};
    choices.forEach(function (c) { rooms[c.value] = c; });
    var distinct = Object.keys(rooms);
    if (!exact.length && distinct.length === 1) {
      room.value = distinct[0];
      exact = [rooms[distinct[0]]];
    }
    picked.textContent = exact.length ? exact[0].label : "";
  }

  function fill(found) {
    choices = found;
    list.textContent = "";
    found.forEach(function (c) {
      var option = document.createElement("option");
      option.value = c.value;
      option.label = c.label;
      option.textContent = c.label;
      list.appendChild(option);
    });
    if (settleWhenAnswered) { settleWhenAnswered = false; settle(); }
  }

  function ask() {
    var text = room.value.trim();
    timer = null;
    if (!text || text === asked) { return; }
    asked = text;
    var query = "?community=" + encodeURIComponent(community ? community.value : "") +
      "&q=" + encodeURIComponent(text);
    pending = fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (found) { if (asked === text) { pending = null; fill(found); } })
      .catch(function () { pending = null; /* typing the room code still works */ });
  }

  room.addEventListener("input", function () {
    clearTimeout(timer);
    picked.textContent = "";
    timer = setTimeout(ask, 150);
  });
  room.addEventListener("change", function () {
    if (timer !== null) { clearTimeout(timer); ask(); }
    if (pending) { settleWhenAnswered = true; } else { settle(); }
  });
})();

// 新建求助: once a room and a category are chosen, list the open requests that may be the same
// need (same room, or same building within a day), each a link to its page, before saving.
(function () {
  "use strict";
  var form = document.getElementById("intake");
  if (!form) { return; }
  var box = document.getElementById("intake-duplicates");
  var room = document.getElementById("intake-room");
  var category = document.getElementById("intake-category");
  var community = document.getElementById("intake-community");
  var url = form.getAttribute("data-duplicates-url");
  var asked = "";

  function show(found) {
    var list = box.querySelector("ul");
    list.textContent = "";
    found.forEach(function (d) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = d.url;
      link.textContent = (d.ticket || "#" + d.id) + " " + d.room + " " + d.status_words;
      item.appendChild(link);
      list.appendChild(item);
    });
    box.hidden = !found.length;
  }

  function check() {
    var query = "?room=" + encodeURIComponent(room.value.trim()) +
      "&category=" + encodeURIComponent(category.value) +
      (community ? "&community=" + encodeURIComponent(community.value) : "");
    if (!room.value.trim() || query === asked) { return; }
    asked = query;
    fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (found) { if (asked === query) { show(found); } })
      .catch(function () { /* the page's own check on the request page still lists them */ });
  }

  room.addEventListener("change", check);
  room.addEventListener("blur", function () { setTimeout(check, 300); });
  category.addEventListener("change", check);
})();
