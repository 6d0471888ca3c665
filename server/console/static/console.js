// Sextant console: live updates. The server's event stream says when
// something the pages show changed; this script then fetches the page
// again and swaps in its main section. Without script the pages are
// complete; reload to refresh.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || live.dataset.live !== "on" || !window.EventSource) return;
  var busy = false, again = false;
  function say(s) { live.textContent = s; }
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error("status " + r.status);
        return r.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("main"), cur = document.getElementById("main");
        if (fresh && cur) cur.replaceChildren.apply(cur, Array.prototype.slice.call(fresh.childNodes));
        document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
        say("Updated " + new Date().toLocaleTimeString());
      })
      .catch(function () { say("Update failed; reload the page"); })
      .finally(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var es = new EventSource("/console/events");
  es.addEventListener("hello", function () { say("Live"); });
  es.addEventListener("change", refresh);
  es.onerror = function () { say("Reconnecting…"); };
})();
