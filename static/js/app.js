// Site-wide behaviour that the Content-Security-Policy keeps out of the templates
// (no inline handlers, no hx-on): confirm dialogs and htmx swaps of error answers.
(function () {
  "use strict";

  // <form data-confirm="Really?"> or <button data-confirm=...>: ask before a plain
  // (non-htmx) submit.
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = (button && button.getAttribute("data-confirm")) ||
      (event.target.getAttribute && event.target.getAttribute("data-confirm"));
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);

  // <form data-swap-statuses="403 429">: htmx 2 drops 4xx answers as errors; swap these
  // in anyway (e.g. the coupon claim's "verify your email" and "slow down").
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    var holder = elt && elt.closest && elt.closest("[data-swap-statuses]");
    if (!holder) return;
    var statuses = holder.getAttribute("data-swap-statuses").split(/\s+/);
    if (statuses.indexOf(String(event.detail.xhr.status)) !== -1) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
