/* The volunteer pages' service worker: network first, the last copy when there is no signal.
   Pages and lists are kept in the Cache API (never the HTTP cache: they say no-store), so the
   task list and an open job stay readable offline. Actions are not cached here: field.js
   queues them in localStorage and sends them when the signal returns. */
"use strict";
const CACHE = "linli-field-v1";
const SCOPE = new URL(self.registration.scope).pathname;
const SHELL = [SCOPE, SCOPE + "static/field.js", SCOPE + "static/field.css", SCOPE + "static/icon.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE)
      .then((cache) => Promise.all(SHELL.map((url) => cache.add(url).catch(() => null))))
      .then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim())
  );
});

function keyFor(url) {
  // The poll asks `?since=`: keep one copy of the list, whatever was asked. Static files are
  // asked by their content digest (`?v=`): one copy each, so the shell cached at install serves
  // the versioned URL offline.
  const single = url.pathname.endsWith("/jobs.json") || url.pathname.startsWith(SCOPE + "static/");
  return single ? url.origin + url.pathname : url.href;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (!url.pathname.startsWith(SCOPE) || url.pathname.startsWith(SCOPE + "k/")) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok && !response.redirected) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(keyFor(url), copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(keyFor(url)).then(
          (hit) => hit || (request.mode === "navigate" ? caches.match(SCOPE) : Response.error())
        )
      )
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "forget") event.waitUntil(caches.delete(CACHE));
});
