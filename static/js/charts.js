// Draws every <canvas data-chart="ID"> from the JSON in <script type="application/json" id="ID">,
// with Chart.js (static/vendor/chart.umd.min.js, loaded before this file). The same figures
// are in a table next to each chart, so the chart is decoration for sighted users.
// JSON: {labels: [...], datasets: [{label, data, kind: "bar"|"line", axis: "y"|"y1", money: bool}],
//        axes: {y: {title, min, max, money}, y1: {...}}}
(function () {
  "use strict";
  var COLOURS = ["#66c0f4", "#a4d007", "#f2c94c", "#e5534b"];
  // Figures in the page's language (<html lang>): 12,000원 in Korean, ₩12,000 in English.
  var lang = document.documentElement.lang || "ko";
  var korean = lang.toLowerCase().indexOf("ko") === 0;
  var plain = new Intl.NumberFormat(lang, { maximumFractionDigits: 2 });
  var whole = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  var currency = new Intl.NumberFormat(lang, { style: "currency", currency: "KRW", maximumFractionDigits: 0 });
  var won = { format: function (v) { return korean ? whole.format(v) + "원" : currency.format(v); } };

  function axis(spec, position, grid) {
    return {
      type: "linear", position: position, beginAtZero: true, min: spec.min, max: spec.max,
      title: { display: !!spec.title, text: spec.title },
      grid: { drawOnChartArea: grid, color: "#263241" },
      ticks: { precision: 0,  // counts and won: no fractions (an all-zero axis would repeat "0원", "1원")
               callback: function (v) { return spec.money ? won.format(v) : plain.format(v); } }
    };
  }

  function draw(canvas) {
    if (canvas.dataset.drawn || typeof window.Chart === "undefined") return;
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    var spec = JSON.parse(source.textContent);
    var axes = spec.axes || { y: {} };
    var scales = { x: { grid: { color: "#1f2a36" } } };
    Object.keys(axes).forEach(function (key, i) { scales[key] = axis(axes[key], i ? "right" : "left", !i); });
    var datasets = spec.datasets.map(function (d, i) {
      var colour = COLOURS[i % COLOURS.length];
      return { type: d.kind || "bar", label: d.label, data: d.data, yAxisID: d.axis || "y",
               backgroundColor: d.kind === "line" ? colour : colour + "aa", borderColor: colour,
               borderWidth: d.kind === "line" ? 2 : 0, pointRadius: d.kind === "line" ? 2 : 0,
               spanGaps: true, tension: 0, order: d.kind === "line" ? 0 : 1, money: !!d.money };
    });
    window.Chart.defaults.color = "#8b98a5";
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    new window.Chart(canvas, {
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: { labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: function (ctx) {
            var v = ctx.parsed.y;
            return ctx.dataset.label + ": " + (v === null ? "—" : ctx.dataset.money ? won.format(v) : plain.format(v));
          } } }
        }
      }
    });
    canvas.dataset.drawn = "1";
  }

  function drawAll() { document.querySelectorAll("canvas[data-chart]").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
