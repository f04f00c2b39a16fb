/* Volunteers, passbook and reports: print buttons and the report charts (Chart.js, served
   from /static/vendor). No inline script: the CSP allows scripts from this site only. */
(function () {
  "use strict";
  document.querySelectorAll(".print-button").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });

  var data = document.getElementById("chart-data");
  if (!data || typeof window.Chart === "undefined") { return; }
  var figures = JSON.parse(data.textContent);
  window.Chart.defaults.animation = false;
  window.Chart.defaults.font.family = '"Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif';

  function bar(id, labels, datasets) {
    var canvas = document.getElementById(id);
    if (!canvas || labels.length === 0) { return; }
    canvas.linliChart = new window.Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: { responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } }
    });
  }

  bar("chart-categories", figures.categories.labels, [
    { label: figures.words.requests, data: figures.categories.values, backgroundColor: "#4a90c8" }
  ]);
  bar("chart-teams", figures.teams.labels, [
    { label: figures.words.recorded, data: figures.teams.recorded, backgroundColor: "#0b4f8a" },
    { label: figures.words.manual, data: figures.teams.manual, backgroundColor: "#9ecae1" }
  ]);
}());
