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

  // A plain (non-htmx) submit is a navigation: an htmx answer arriving after it must not
  // swap the submitted form out of the page under the browser, which can lose the
  // submission. The checkout's re-price is one: pressing Pay takes the focus from the
  // points field, whose "change" asks for a new summary, Pay form included. For ten
  // seconds (a form whose answer is a download leaves the page where it is) swaps wait.
  var submittedAt = 0;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    // Bubbling, so htmx (on the form itself) has already prevented the forms it sends.
    if (!event.defaultPrevented && !(form.getAttribute && form.getAttribute("target"))) submittedAt = Date.now();
  });
  function leaving() { return Date.now() - submittedAt < 10000; }
  window.addEventListener("pageshow", function () { submittedAt = 0; });
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (leaving()) event.detail.shouldSwap = false;
  });

  // <form data-swap-statuses="403 429">: htmx 2 drops 4xx answers as errors; swap these
  // in anyway (e.g. the coupon claim's "verify your email" and "slow down").
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    var holder = elt && elt.closest && elt.closest("[data-swap-statuses]");
    if (!holder || leaving()) return;
    var statuses = holder.getAttribute("data-swap-statuses").split(/\s+/);
    if (statuses.indexOf(String(event.detail.xhr.status)) !== -1) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
