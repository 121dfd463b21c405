// Live pages: one EventSource per page. Each change from the server is re-fired as
// a DOM event, "tousu:change", and more specific ones ("tousu:complaint-<id>",
// "tousu:department-<dept>"). What shows data reloads on the "reload" twin of one of
// them -- hx-trigger="tousu:reload from:body", "tousu:reload-complaint-<id>",
// "tousu:reload-department-<dept>" -- fired at most every RELOAD_MS per name, the
// first change at once and the last of a burst always: a busy company's stream of
// changes neither reloads a page per change nor starves it of reloads (htmx's own
// throttle drops the last change of a burst, its delay waits for a pause that may
// not come). EventSource reconnects by itself and sends Last-Event-ID, so the
// server replays what the page missed.
//
// Screen pop: a change of type "call" (only ever sent to the agent whose extension
// rings) shows a banner at the top of the page with the caller's number and a link
// to the hotline form for it; "answered" updates it, "hung_up" removes it.
// A change of type "resync" (after a reconnect that missed more than the server
// keeps) is a plain "tousu:change": everything that shows data reloads.
(function () {
  "use strict";
  var zh = (document.documentElement.lang || "zh").indexOf("zh") === 0;
  function t(chinese, english) { return zh ? chinese : english; }

  function banners() {
    var box = document.getElementById("call-banners");
    if (!box) {
      box = document.createElement("div");
      box.id = "call-banners";
      box.className = "call-banners";
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", t("来电", "Incoming calls"));
      var skip = document.querySelector("body > .skip");
      document.body.insertBefore(box, skip ? skip.nextSibling : document.body.firstChild);
    }
    return box;
  }

  function showCall(change) {
    var box = banners();
    var selector = '[data-call-id="' + String(change.call_id).replace(/["\\]/g, "") + '"]';
    var banner = box.querySelector(selector);
    if (change.call_state === "hung_up") {
      if (banner) banner.remove();
      if (!box.children.length) box.remove();
      return;
    }
    var number = change.caller_number || (banner && banner.dataset.number) || "";
    if (!banner) {
      banner = document.createElement("div");
      banner.className = "call-banner";
      banner.setAttribute("role", "alert");
      banner.dataset.callId = change.call_id;
      box.appendChild(banner);
    }
    banner.dataset.number = number;
    banner.dataset.state = change.call_state;
    banner.textContent = "";
    var text = document.createElement("strong");
    text.className = "call-text";
    text.textContent = (change.call_state === "answered" ? t("通话中 ", "On the line: ") : t("来电 ", "Incoming call ")) + number;
    banner.appendChild(text);
    if (number) {
      var link = document.createElement("a");
      link.className = "call-link";
      link.href = "/hotline?phone=" + encodeURIComponent(number) + "&call=" + encodeURIComponent(change.call_id);
      link.textContent = t("受理这个来电", "Take this call");
      banner.appendChild(link);
    }
  }

  var RELOAD_MS = 500;
  var lastReload = {};
  var pendingReload = {};
  function reload(name, detail) {
    if (pendingReload[name]) { pendingReload[name].detail = detail; return; }
    var wait = Math.max(0, (lastReload[name] || 0) + RELOAD_MS - Date.now());
    pendingReload[name] = { detail: detail };
    setTimeout(function () {
      var pending = pendingReload[name];
      delete pendingReload[name];
      lastReload[name] = Date.now();
      document.body.dispatchEvent(new CustomEvent(name, pending));
    }, wait);
  }

  // A live reload swaps a panel for the server's fresh copy, and the <details> the
  // person had opened in it stay open. Once they type, the panel's own script holds
  // live reloads back (csc/_keep_edits.html); before that, any change to the complaint
  // (a mail sent about it, a clock) closed the form they had just opened under their
  // hands. A form's own submission swaps the panel too; there the server's copy wins.
  function isLiveReload(event) {
    var config = event.detail.requestConfig;
    var trigger = config && config.triggeringEvent;
    return !!trigger && typeof trigger.type === "string" && trigger.type.indexOf("tousu:reload") === 0;
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.querySelectorAll || !isLiveReload(event)) return;
    target.__tousuOpen = Array.prototype.map.call(
      target.querySelectorAll("details[id][open]"), function (details) { return details.id; });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    var open = target && target.__tousuOpen;
    if (!open) return;
    delete target.__tousuOpen;
    open.forEach(function (id) {
      var details = document.getElementById(id);
      if (details && target.contains(details)) details.open = true;
    });
  });

  function start() {
    var url = document.body.dataset.live;
    if (!url || !window.EventSource) return;
    var source = new EventSource(url);
    source.addEventListener("change", function (message) {
      var change;
      try { change = JSON.parse(message.data); } catch (e) { return; }
      if (change.type === "call") {
        showCall(change);
        document.body.dataset.lastCall = String(change.id);
        return;
      }
      var detail = { detail: change };
      document.body.dispatchEvent(new CustomEvent("tousu:change", detail));
      reload("tousu:reload", change);
      if (change.complaint_id) {
        document.body.dispatchEvent(new CustomEvent("tousu:complaint-" + change.complaint_id, detail));
        reload("tousu:reload-complaint-" + change.complaint_id, change);
      }
      if (change.department) {
        document.body.dispatchEvent(new CustomEvent("tousu:department-" + change.department, detail));
        reload("tousu:reload-department-" + change.department, change);
      }
      // a "resync" (the page missed more than the server kept) has no id: every
      // element that listens to tousu:change reloads
      if (change.id) document.body.dataset.lastChange = String(change.id);
    });
    source.addEventListener("open", function () { document.body.dataset.liveOpen = "1"; });
    source.addEventListener("error", function () {
      // A refused stream (503: too many open, or signed out) is not retried by the
      // browser: try again a little later.
      if (source.readyState === EventSource.CLOSED) {
        delete document.body.dataset.liveOpen;
        setTimeout(start, 15000 + Math.random() * 15000);
      }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
