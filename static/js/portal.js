// The portal's little behaviour. No inline handlers: the CSP allows scripts from 'self' only.
(function () {
  "use strict";

  // Times follow the browser's time zone until the operator picks one (/timezone/). Zone names
  // hold only letters, digits, "_", "+", "-" and "/", all fine in a cookie as they are.
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  var hasZoneCookie = document.cookie.split("; ").some(function (c) { return c.indexOf("tz=") === 0; });
  if (zone && !hasZoneCookie) {
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    if (zone !== document.documentElement.dataset.tz) { location.reload(); }
  }

  // A hidden tab does not poll: the request waits until the tab is visible again.
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    if (!document.hidden || !elt.hasAttribute("data-poll")) { return; }
    event.preventDefault();
    if (elt.dataset.waiting) { return; }
    elt.dataset.waiting = "1";
    document.addEventListener("visibilitychange", function () {
      delete elt.dataset.waiting;
      event.detail.issueRequest(true);
    }, { once: true });
  });

  // A row the page's poll swaps in keeps its open details (its outcome and ticked box are kept by hx-preserve).
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var old = event.detail.target;
    if (!old.matches || !old.matches("tr[id^='job-']")) { return; }
    var details = old.querySelector("details");
    if (!details || !details.open) { return; }
    var fresh = event.detail.fragment.querySelector("details");
    if (fresh) {
      fresh.open = true;
      var facts = details.querySelector(".job-facts");
      var freshFacts = fresh.querySelector(".job-facts");
      if (facts && freshFacts) { freshFacts.replaceWith(facts); }  // already loaded: keep it
    }
  });
  // The same for a row an action answered with (a normal swap): its details open again once it is in.
  var openRows = {};
  document.addEventListener("htmx:beforeSwap", function (event) {
    var old = event.detail.target;
    if (!old || !old.matches || !old.matches("tr[id^='job-']")) { return; }
    var details = old.querySelector("details");
    if (details && details.open) { openRows[old.id] = true; }
  });
  document.addEventListener("htmx:load", function (event) {
    var row = event.detail.elt;
    if (!row || !row.id || !openRows[row.id]) { return; }
    delete openRows[row.id];
    var details = row.querySelector("details");
    if (details) { details.open = true; }
  });

  // "Select all on this page".
  document.addEventListener("change", function (event) {
    if (!event.target.matches("[data-select-all]")) { return; }
    document.querySelectorAll('input[name="job_ids"]:not(:disabled)').forEach(function (box) {
      box.checked = event.target.checked;
    });
  });

  // "updated 12 s ago" next to figures that refresh themselves.
  var updatedAt = Date.now();
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful && event.detail.elt.hasAttribute("data-refreshes-counts")) { updatedAt = Date.now(); }
  });
  setInterval(function () {
    var seconds = Math.round((Date.now() - updatedAt) / 1000);
    var text = seconds < 2 ? "just now" : seconds + " s ago";
    document.querySelectorAll("[data-updated-at]").forEach(function (el) { el.textContent = text; });
  }, 1000);

  // htmx does not swap 4xx/5xx answers: say what happened instead of failing silently.
  function say(text) {
    var area = document.getElementById("messages");
    if (!area) { return; }
    var last = area.lastElementChild;
    if (last && last.textContent === text) { return; }  // a poll failing again says nothing new
    var p = document.createElement("p");
    p.className = "message message-error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    area.appendChild(p);
  }
  // The portal's own words from a 503 (its database not answering): the fragment's role="alert" text.
  function explanation(xhr) {
    var said = new DOMParser().parseFromString(xhr.responseText || "", "text/html").querySelector('[role="alert"]');
    return said ? said.textContent.trim() : "";
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) { say("Your role does not allow this action."); }
    else if (status === 400) { say("The portal refused that request as malformed; nothing was sent to ArcGIS."); }
    else if (status === 503) { say(explanation(event.detail.xhr) || "The portal is not answering right now; try again in a moment."); }
    else { say("The portal answered HTTP " + status + "; nothing else changed. Try again."); }
  });
  document.addEventListener("htmx:sendError", function () {
    say("The portal could not be reached. Check your connection and try again.");
  });
})();
