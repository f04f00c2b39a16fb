/* Linli volunteer pages: the phone's own queue of actions (待发送), the live task list, and the
   steps of a job. Every action gets a UUIDv7 made here when the volunteer acts; the queue lives
   in localStorage and is sent in the order taken whenever there is signal. The server applies
   each id once, so sending again after a lost answer is always safe.
   To add a kind of job action, add it to NEXT, give its form data-kind and data-when on the
   page, and add it to the server's APPLY table. A visit or a call to an elder (我的守望) is
   queued the same way, with the elder and the outcome (the button pressed) instead of a job. */
(function () {
  "use strict";
  var body = document.body;
  var WORDS = JSON.parse(body.dataset.words || "{}");
  var KEY = "linli.field.outbox";
  var NEXT = { accept: "accepted", decline: "declined", arrive: "on_site", complete: "done" };
  var sending = false;

  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function uuid7() {
    var ms = Date.now();
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[0] = Math.floor(ms / 1099511627776) & 255;
    b[1] = Math.floor(ms / 4294967296) & 255;
    b[2] = (ms >>> 24) & 255;
    b[3] = (ms >>> 16) & 255;
    b[4] = (ms >>> 8) & 255;
    b[5] = ms & 255;
    b[6] = (b[6] & 15) | 112;
    b[8] = (b[8] & 63) | 128;
    var h = hex(b);
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function load() {
    try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }

  function save(items) { localStorage.setItem(KEY, JSON.stringify(items)); }

  function setNet(text, bad) {
    var net = document.getElementById("net");
    if (!net) return;
    net.textContent = text || "";
    net.classList.toggle("offline", !!bad);
  }

  function describe(a) {
    if (a.resident_id) {
      var said = WORDS[a.kind] + " " + WORDS[a.kind + "_" + a.outcome] + " · " + a.room;
      return a.outcome === "ok" || a.status !== "pending" ? said : said + " · " + WORDS.raised;
    }
    var what = WORDS[a.kind] + (a.minutes ? " " + a.minutes + " " + WORDS.minutes : "");
    return what + " · " + WORDS.job + " #" + a.request_id;
  }

  function listInto(ul, items) {
    ul.textContent = "";
    items.forEach(function (a) {
      var li = document.createElement("li");
      li.className = a.status;
      li.dataset.id = a.id;
      li.textContent = describe(a) + " · " + (a.status === "pending" ? WORDS.pending : WORDS.rejected + ": " + a.detail);
      if (a.status === "rejected") {
        var ok = document.createElement("button");
        ok.type = "button";
        ok.textContent = WORDS.dismiss;
        ok.addEventListener("click", function () {
          save(load().filter(function (x) { return x.id !== a.id; }));
          render();
        });
        li.appendChild(ok);
      }
      ul.appendChild(li);
    });
  }

  function render() {
    var items = load();
    var job = document.getElementById("job");
    var elder = document.getElementById("elder");
    var box = document.getElementById(job || elder ? "pending" : "outbox");
    var shown = items;
    if (job) shown = items.filter(function (a) { return a.request_id === Number(job.dataset.requestId); });
    if (elder) shown = items.filter(function (a) { return a.resident_id === Number(elder.dataset.residentId); });
    if (box) {
      box.hidden = shown.length === 0;
      listInto(box.querySelector("ul"), shown);
    }
    if (job) {
      var state = job.dataset.state;
      var last = null;
      shown.forEach(function (a) { if (a.status === "pending") { state = NEXT[a.kind]; last = a; } });
      job.querySelectorAll("form.step").forEach(function (form) {
        form.hidden = form.dataset.when.split(" ").indexOf(state) < 0;
      });
      if (last) document.getElementById("my-state").textContent = WORDS[last.kind] + "（" + WORDS.pending + "）";
    }
    document.querySelectorAll("#job-list li.job").forEach(function (li) {
      var waiting = items.some(function (a) { return a.status === "pending" && a.request_id === Number(li.dataset.requestId); });
      li.classList.toggle("waiting", waiting);
    });
  }

  function finish(results) {
    var byId = {};
    var applied = false;
    results.forEach(function (r) { byId[r.id] = r; });
    var kept = [];
    load().forEach(function (a) {
      var r = byId[a.id];
      if (!r) { kept.push(a); return; }
      if (r.status === "applied") { applied = true; return; }
      a.status = "rejected";
      a.detail = r.detail;
      kept.push(a);
    });
    save(kept);
    return applied;
  }

  function flush() {
    var pending = load().filter(function (a) { return a.status === "pending"; }).slice(0, 50);
    if (sending || pending.length === 0) return Promise.resolve();
    sending = true;
    var payload = pending.map(function (a) {
      return { id: a.id, kind: a.kind, request_id: a.request_id, taken_at: a.taken_at,
               reason: a.reason || null, note: a.note || null, minutes: a.minutes || null,
               resident_id: a.resident_id || null, outcome: a.outcome || null };
    });
    return fetch(body.dataset.actions, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-Linli-Field": "1" },
      body: JSON.stringify({ actions: payload })
    }).then(function (response) {
      if (response.status === 401) { setNet(WORDS.signed_out, true); return; }
      return response.json().then(function (answer) {
        var applied;
        if (response.ok) {
          applied = finish(answer.results);
        } else {
          applied = finish([{ id: pending[0].id, status: "rejected", detail: answer.detail }]);
        }
        setNet("", false);
        if (applied && (document.getElementById("job") || document.getElementById("elder"))) { location.reload(); return; }
        render();
      });
    }, function () {
      setNet(WORDS.offline, true);
    }).then(function () { sending = false; }, function () { sending = false; });
  }

  function act(form) {
    var job = document.getElementById("job");
    var data = new FormData(form);
    var minutes = data.get("minutes");
    var items = load();
    items.push({
      id: uuid7(),
      kind: form.dataset.kind,
      request_id: Number(job.dataset.requestId),
      taken_at: new Date().toISOString(),
      reason: data.get("reason") || null,
      note: data.get("note") || null,
      minutes: minutes ? parseInt(minutes, 10) : null,
      status: "pending"
    });
    save(items);
    form.reset();
    render();
    flush();
  }

  function care(form, button) {
    var elder = document.getElementById("elder");
    var items = load();
    items.push({
      id: uuid7(),
      kind: form.dataset.kind,
      resident_id: Number(elder.dataset.residentId),
      room: elder.dataset.room,
      outcome: button.value,
      taken_at: new Date().toISOString(),
      status: "pending"
    });
    save(items);
    render();
    flush();
  }

  function poll() {
    var jobs = document.getElementById("jobs");
    if (!jobs || !navigator.onLine) return;
    var url = jobs.dataset.src + "?since=" + encodeURIComponent(jobs.dataset.fingerprint);
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d || !d.changed) return;
        var before = {};
        jobs.querySelectorAll("li.job").forEach(function (li) { before[li.dataset.requestId] = true; });
        jobs.innerHTML = d.html;
        jobs.dataset.fingerprint = d.fingerprint;
        jobs.querySelectorAll("#job-list li.job").forEach(function (li) {
          if (!before[li.dataset.requestId]) li.classList.add("fresh");
        });
        render();
      }, function () { setNet(WORDS.offline, true); });
  }

  function forgetClosedJobs() {
    // A resident's details stay on the phone only while the job is on my list.
    if (!window.caches) return;
    var open = {};
    document.querySelectorAll("#job-list li.job").forEach(function (li) { open[li.dataset.requestId] = true; });
    caches.keys().then(function (names) {
      names.forEach(function (name) {
        caches.open(name).then(function (cache) {
          cache.keys().then(function (keys) {
            keys.forEach(function (key) {
              var found = /\/jobs\/(\d+)$/.exec(new URL(key.url).pathname);
              if (found && !open[found[1]]) cache.delete(key);
            });
          });
        });
      });
    });
  }

  function postJson(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-Linli-Field": "1" },
      body: JSON.stringify(data)
    }).then(function (r) { return r.json().then(function (d) { return { ok: r.ok, data: d }; }); });
  }

  function wireForm(id, build, done) {
    var form = document.getElementById(id);
    if (!form) return;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var out = form.querySelector("output");
      postJson(form.dataset.url, build(new FormData(form))).then(function (r) {
        if (!r.ok) { out.textContent = r.data.detail; return; }
        done(r.data, out, form);
      }, function () { out.textContent = WORDS.offline; });
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList.contains("care") && event.submitter) {
      event.preventDefault();
      care(form, event.submitter);
    } else if (form.classList.contains("step") && form.dataset.kind) {
      event.preventDefault();
      act(form);
    }
  });
  wireForm("code-form", function (d) { return { points: parseInt(d.get("points"), 10) }; },
    function (data, out) { out.textContent = data.code; });
  wireForm("pin-set", function (d) { return { pin: d.get("pin") }; },
    function (data, out, form) { form.reset(); out.textContent = WORDS.saved; });
  wireForm("pin-check", function (d) { return { pin: d.get("pin") }; },
    function (data) { location.href = data.next; });
  var today = document.getElementById("free-today");
  if (today) {
    today.addEventListener("click", function () {
      var free = today.getAttribute("aria-pressed") !== "true";
      postJson(today.dataset.url, { free: free }).then(function (r) {
        if (!r.ok) return;
        today.setAttribute("aria-pressed", String(r.data.free));
        today.classList.toggle("on", r.data.free);
        today.textContent = r.data.free ? today.dataset.on : today.dataset.off;
      }, function () { setNet(WORDS.offline, true); });
    });
  }
  var signOut = document.getElementById("sign-out");
  if (signOut) {
    signOut.addEventListener("click", function () {
      postJson(signOut.dataset.url, {}).then(function () {
        localStorage.removeItem(KEY);
        if (navigator.serviceWorker && navigator.serviceWorker.controller) navigator.serviceWorker.controller.postMessage("forget");
        setNet(WORDS.signed_out, true);
      });
    });
  }

  window.addEventListener("online", function () { setNet("", false); flush(); poll(); });
  window.addEventListener("offline", function () { setNet(WORDS.offline, true); });
  if (!navigator.onLine) setNet(WORDS.offline, true);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.scope }).catch(function () { return null; });
  }
  var jobs = document.getElementById("jobs");
  if (jobs) {
    setInterval(poll, Number(jobs.dataset.poll) * 1000);
    if (navigator.onLine) forgetClosedJobs();
  }
  setInterval(flush, 15000);
  render();
  flush();
})();
