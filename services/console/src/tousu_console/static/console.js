// Live pages: one EventSource per page. Each change from the server is re-fired as
// a DOM event, "tousu:change", and more specific ones ("tousu:complaint-<id>",
// "tousu:department-<dept>"); an element that shows something refreshes itself with
// hx-trigger="tousu:change from:body". EventSource reconnects by itself and sends
// Last-Event-ID, so the server replays what the page missed.
(function () {
  "use strict";
  function start() {
    var url = document.body.dataset.live;
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.addEventListener("change", function (message) {
      var change;
      try { change = JSON.parse(message.data); } catch (e) { return; }
      var detail = { detail: change };
      document.body.dispatchEvent(new CustomEvent("tousu:change", detail));
      if (change.complaint_id) {
        document.body.dispatchEvent(new CustomEvent("tousu:complaint-" + change.complaint_id, detail));
      }
      if (change.department) {
        document.body.dispatchEvent(new CustomEvent("tousu:department-" + change.department, detail));
      }
      document.body.dataset.lastChange = String(change.id);
    });
    source.addEventListener("open", function () { document.body.dataset.live_open = "1"; });
    window.addEventListener("pagehide", function () { source.close(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
