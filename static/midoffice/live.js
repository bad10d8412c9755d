// Keeps mid-office pages current, so staff see webhooks and polls land without reloading.
// Every few seconds it fetches this same URL and swaps in the new version of the parts marked
// data-live, and of a changelist's results and counter. It waits while staff are selecting rows
// or typing, and while the tab is hidden. Without JavaScript the page stays as served.
(function () {
  "use strict";
  var script = document.currentScript;
  var seconds = parseInt((script && script.dataset.seconds) || "10", 10);
  var SELECTOR = "[data-live], #result_list, p.paginator";

  function busy() {
    if (document.hidden) { return true; }
    if (document.querySelector("input.action-select:checked, #action-toggle:checked")) { return true; }
    var active = document.activeElement;
    return Boolean(active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName));
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html").querySelectorAll(SELECTOR);
    var current = document.querySelectorAll(SELECTOR);
    if (fresh.length !== current.length) { return false; }
    var changed = false;
    for (var i = 0; i < current.length; i++) {
      if (current[i].outerHTML !== fresh[i].outerHTML) {
        current[i].replaceWith(document.importNode(fresh[i], true));
        changed = true;
      }
    }
    // New row checkboxes need Django's action handlers (counter, select all) again.
    var boxes = document.querySelectorAll("tr input.action-select");
    if (changed && boxes.length && window.Actions) { window.Actions(boxes); }
    return changed;
  }

  function refresh() {
    if (busy()) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html && !busy()) {
          swap(html);
          var stamp = document.getElementById("live-stamp");
          // HH:MM:SS in UTC, the settings' TIME_ZONE: the same clock as every time on the page.
          if (stamp) { stamp.textContent = "updated " + new Date().toISOString().slice(11, 19); }
        }
      })
      .catch(function () { /* offline for a moment: the next tick tries again */ });
  }

  window.setInterval(refresh, seconds * 1000);
})();
