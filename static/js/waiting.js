// The waiting page: one EventSource on the room's broadcast. Every message says "now
// admitting up to ticket N" (plus how many wait and the stock left); this page works out
// its own place from its ticket number, and goes in when its turn has come.
(function () {
  "use strict";
  var main = document.querySelector("main[data-stream]");
  if (!main || !window.EventSource) return;
  var settings = JSON.parse(document.getElementById("waiting-settings").textContent);
  if (settings.stock === 0) return;  // sold out already: nothing to listen for
  var words = JSON.parse(document.getElementById("waiting-i18n").textContent);
  var format = new Intl.NumberFormat(words.locale);
  var entering = false;

  function show(id, text) {
    var el = document.getElementById(id);
    if (el) el.textContent = text;
  }

  function eta(position) {
    var minutes = Math.round((position - 1) / Math.max(settings.rate, 0.01));
    if (minutes < 1) return words.soon;
    return (minutes === 1 ? words.minutes_one : words.minutes_other).replace("{n}", format.format(minutes));
  }

  function enter() {
    if (entering) return;
    entering = true;
    show("waiting-eta", words.your_turn);
    window.location.replace(main.getAttribute("data-enter"));
  }

  var source = new EventSource(main.getAttribute("data-stream"));
  source.addEventListener("open", function () { main.setAttribute("data-live", "open"); });
  source.addEventListener("admit", function (event) {
    var news = JSON.parse(event.data);
    if (news.stock === 0) {
      source.close();
      document.getElementById("waiting-live").hidden = true;
      document.getElementById("waiting-sold-out").hidden = false;
      return;
    }
    if (news.stock !== null && news.stock !== undefined) show("waiting-stock", format.format(news.stock));
    show("waiting-count", format.format(news.waiting));
    if (settings.random) {
      // In a draw the broadcast can't place this ticket; reloading now and then does.
      return;
    }
    var position = settings.number - news.through;
    if (position <= 0) return enter();
    show("waiting-position", format.format(position));
    show("waiting-eta", eta(position));
  });
  if (settings.random) window.setInterval(enter, 30000);
})();
