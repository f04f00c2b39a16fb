// The kiosk's little script. Screens are rendered by the server; this file only
// (1) moves between screens without growing the browser history, (2) sends each form once,
// (3) speaks the screen's prompts, (4) runs the idle warning, (5) opens the hidden admin door,
// (6) keeps the digits typed on the phone keypad in the page until they are posted.
// Every action happens on "click" (on release): no touch, swipe, drag or long-press handlers.
"use strict";

(function () {
  const body = document.body;
  const lang = body.dataset.lang || "zh";

  function go(url) {
    // replace(), not assign(): the next resident cannot go "back" into this one's screens.
    window.location.replace(url);
  }

  // --- speech -------------------------------------------------------------------------
  let player = null;
  function speak(keys) {
    if (player) { player.pause(); }
    const queue = keys.filter(Boolean);
    function next() {
      const key = queue.shift();
      if (!key) { return; }
      player = new Audio("/voice/" + lang + "/" + encodeURIComponent(key));
      player.addEventListener("ended", next);
      player.addEventListener("error", next);
      player.play().catch(function () { /* autoplay refused or no audio: stay silent */ });
    }
    next();
  }
  const prompts = (body.dataset.speak || "").split(" ").filter(Boolean);
  if (prompts.length) { speak(prompts); }

  // --- moving between screens and sending forms ----------------------------------------
  document.addEventListener("click", function (event) {
    const link = event.target.closest("a[href]");
    if (link && link.origin === window.location.origin) {
      event.preventDefault();
      go(link.href);
    } else if (link) {
      event.preventDefault();  // never leave the kiosk
    }
  });

  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (form.dataset.sent) { return; }  // a double tap sends once (the server checks too)
      form.dataset.sent = "1";
      // The tapped button may carry the answer (a sub-choice tile): sent as a form would.
      const data = new FormData(form);
      const tapped = event.submitter;
      if (tapped && tapped.name) { data.append(tapped.name, tapped.value); }
      form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(data),
        credentials: "same-origin",
      }).then(function (response) {
        const problem = response.headers.get("X-Linli-Problem");
        if (problem) { go("/problem/" + encodeURIComponent(problem)); }
        else { go(response.url); }
      }).catch(function () { go("/problem/server_error"); });
    });
  });

  document.addEventListener("contextmenu", function (event) { event.preventDefault(); });
  document.addEventListener("dragstart", function (event) { event.preventDefault(); });

  // --- the admin PIN keypad ------------------------------------------------------------
  const pin = document.getElementById("pin");
  if (pin) {
    const display = document.getElementById("pin-display");
    document.querySelectorAll("[data-pin-key]").forEach(function (key) {
      key.addEventListener("click", function () {
        const k = key.dataset.pinKey;
        pin.value = k === "clear" ? pin.value.slice(0, -1) : (pin.value + k).slice(0, 12);
        display.textContent = pin.value ? "●".repeat(pin.value.length) : display.dataset.empty;
      });
    });
    display.dataset.empty = display.textContent;
  }

  // --- the phone keypad: the digits stay in this page until "done" posts them ------------
  const phoneInput = document.getElementById("phone-input");
  if (phoneInput) {
    const shown = document.getElementById("phone-display");
    const done = document.getElementById("done");
    const typed = function (value) {
      phoneInput.value = value.slice(0, 15);
      shown.textContent = phoneInput.value || shown.dataset.empty;
      done.disabled = !/^[0-9]{5,15}$/.test(phoneInput.value);
    };
    document.querySelectorAll("[data-key]").forEach(function (key) {
      key.addEventListener("click", function () { typed(phoneInput.value + key.dataset.key); });
    });
    document.getElementById("delete").addEventListener("click", function () {
      typed(phoneInput.value.slice(0, -1));
    });
  }

  // --- the hidden admin door: five taps on the logo within four seconds ---------------
  const logo = document.getElementById("logo");
  let taps = [];
  logo.addEventListener("click", function () {
    const now = Date.now();
    taps = taps.filter(function (t) { return now - t < 4000; });
    taps.push(now);
    if (taps.length >= 5) { go("/admin"); }
  });

  // --- idle: warn, count down, then start over for the next person -------------------
  const idleMs = parseFloat(body.dataset.idle) * 1000;
  const warnS = Math.max(1, Math.round(parseFloat(body.dataset.idleWarning)));
  const dialog = document.getElementById("idle");
  const countEl = document.getElementById("idle-count");
  let idleTimer = null;
  let countTimer = null;

  function startOver() {
    try { window.sessionStorage.clear(); window.localStorage.clear(); } catch (e) { /* none */ }
    go("/reset");
  }
  function warn() {
    let left = warnS;
    countEl.textContent = String(left);
    dialog.hidden = false;
    speak((body.dataset.idleSpeak || "").split(" "));
    countTimer = window.setInterval(function () {
      left -= 1;
      countEl.textContent = String(Math.max(left, 0));
      if (left <= 0) { window.clearInterval(countTimer); startOver(); }
    }, 1000);
  }
  function touched() {
    if (!dialog.hidden) { return; }  // only the big button dismisses the warning
    window.clearTimeout(idleTimer);
    idleTimer = window.setTimeout(warn, idleMs);
  }
  document.getElementById("idle-continue").addEventListener("click", function () {
    window.clearInterval(countTimer);
    dialog.hidden = true;
    if (player) { player.pause(); }
    touched();
  });
  if (body.dataset.pristine !== "1") {
    ["click", "pointerup", "keyup"].forEach(function (type) {
      document.addEventListener(type, touched, { passive: true });
    });
    touched();
  }

  // --- tell the kiosk this screen was drawn (the admin page shows it) -----------------
  fetch("/ui/shown", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ screen: body.dataset.screen }),
  }).catch(function () { /* the screen still works */ });
})();
