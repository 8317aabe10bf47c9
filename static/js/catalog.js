// Catalog behaviour (sale countdowns, gallery, browse filters). Loaded on every page.
// Everything works without it: countdowns show the end time in KST, thumbnails link
// to the full image, and the filter form submits normally.
(function () {
  "use strict";

  // Words in the page's language, from <script type="application/json" id="i18n">
  // (templates/_js_strings.html); English when the block is missing.
  var strings = (function () {
    var el = document.getElementById("i18n");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  })();

  function t(key, fallback, values) {
    var text = strings[key] || fallback;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }
  // The same lookup for the page scripts loaded after this one (builds.js).
  window.Playcation = Object.assign(window.Playcation || {}, { t: t });

  // --- Sale countdowns: <time data-sale-ends="2026-11-30T09:00:00Z"> -------------------
  function pad(n) { return String(n).padStart(2, "0"); }

  function timeLeft(ms) {
    var s = Math.floor(ms / 1000);
    var days = Math.floor(s / 86400);
    var clock = pad(Math.floor(s % 86400 / 3600)) + ":" + pad(Math.floor(s % 3600 / 60)) + ":" + pad(s % 60);
    if (!days) return clock;
    return t(days === 1 ? "day_one" : "day_other", days === 1 ? "{n} day" : "{n} days", { n: days }) + " " + clock;
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-sale-ends]").forEach(function (el) {
      var end = Date.parse(el.getAttribute("data-sale-ends"));
      if (isNaN(end)) return;
      if (!el.title) el.title = el.textContent.trim();  // keep the KST end time on hover
      var left = end - now;
      el.textContent = left > 0 ? t("offer_ends_in", "Offer ends in {time}", { time: timeLeft(left) })
        : t("offer_ended", "This offer has ended — reload for the current price");
      el.classList.toggle("ended", left <= 0);
    });
  }

  // --- Gallery: a thumbnail click shows that screenshot large ------------------------------
  document.addEventListener("click", function (event) {
    var thumb = event.target.closest && event.target.closest("[data-gallery-thumb]");
    if (!thumb) return;
    var gallery = thumb.closest("[data-gallery]");
    var stage = gallery && gallery.querySelector("[data-gallery-main]");
    if (!stage || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    var img = thumb.querySelector("img");
    stage.src = thumb.getAttribute("href");
    if (img) stage.alt = img.alt;
    gallery.querySelectorAll("[data-gallery-thumb]").forEach(function (t) { t.removeAttribute("aria-current"); });
    thumb.setAttribute("aria-current", "true");
  });

  // --- Browse: leave empty filters out of the URL, so shared links stay short; and send
  // one request when Enter in a field fires both `change` and `submit` (one history entry).
  var lastQuery = null, lastAt = 0;
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.target.matches || !event.target.matches("[data-browse-form]")) return;
    var params = event.detail.parameters;
    Array.from(params.keys()).forEach(function (key) {
      var values = params.getAll(key).filter(function (v) { return v !== ""; });
      if (!values.length) delete params[key];
    });
    var query = new URLSearchParams(Array.from(params.entries())).toString();
    var now = Date.now();
    if (query === lastQuery && now - lastAt < 1000) {
      event.preventDefault();
      return;
    }
    lastQuery = query;
    lastAt = now;
  });

  function init() {
    tick();
    setInterval(tick, 1000);
    // Filters start folded away on phones; the markup has them open for wide screens
    // and for browsers without JavaScript.
    var filters = document.querySelector("[data-filters]");
    if (filters && window.matchMedia("(max-width: 767px)").matches) filters.open = false;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
