// The portal's little behaviour. No inline handlers: the CSP allows scripts from 'self' only.
(function () {
  "use strict";

  // Times follow the browser's time zone until the operator picks one (/timezone/).
  var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone && document.cookie.split("; ").every(function (c) { return c.indexOf("tz=") !== 0; })) {
    document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    if (zone !== "UTC" && document.querySelector("time")) { location.reload(); }
  }

  // A hidden tab does not poll: a row's refresh waits until the tab is visible again.
  document.addEventListener("htmx:confirm", function (event) {
    var row = event.detail.elt;
    if (!document.hidden || !row.hasAttribute("data-poll")) { return; }
    event.preventDefault();
    if (row.dataset.waiting) { return; }
    row.dataset.waiting = "1";
    document.addEventListener("visibilitychange", function () {
      delete row.dataset.waiting;
      event.detail.issueRequest(true);
    }, { once: true });
  });

  // A session that ended mid-page answers with the login page: go there instead of swapping it in.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var url = event.detail.xhr.responseURL || "";
    if (url.indexOf("/accounts/login/") !== -1) {
      event.detail.shouldSwap = false;
      window.location.href = url;
    }
  });

  // A row that refreshes itself keeps what the operator did to it: details open, box ticked.
  // (Focus is kept by htmx itself: the row's controls have stable ids.)
  var keptRows = {};
  document.addEventListener("htmx:beforeSwap", function (event) {
    var row = event.detail.target;
    if (!row || !row.matches || !row.matches("tr[id^='job-']")) { return; }
    var details = row.querySelector("details");
    var box = row.querySelector("input[name='job_ids']");
    keptRows[row.id] = { open: !!(details && details.open), checked: !!(box && box.checked) };
  });
  document.addEventListener("htmx:load", function (event) {
    var row = event.detail.elt;
    var state = row && row.id && keptRows[row.id];
    if (!state) { return; }
    delete keptRows[row.id];
    var details = row.querySelector("details");
    var box = row.querySelector("input[name='job_ids']");
    if (state.open && details) { details.open = true; }
    if (state.checked && box && !box.disabled) { box.checked = true; }
  });

  // "Select all on this page".
  document.addEventListener("change", function (event) {
    if (!event.target.matches("[data-select-all]")) { return; }
    document.querySelectorAll('input[name="job_ids"]:not(:disabled)').forEach(function (box) {
      box.checked = event.target.checked;
    });
  });

  // htmx does not swap 4xx/5xx answers: say what happened instead of failing silently.
  function say(text) {
    var area = document.getElementById("messages");
    if (!area) { return; }
    var p = document.createElement("p");
    p.className = "message message-error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    area.appendChild(p);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) { say("Your role does not allow this action."); }
    else if (status === 401 || status === 0) { say("Your session has ended: sign in again."); }
    else { say("The portal answered HTTP " + status + "; nothing else changed. Try again."); }
  });
  document.addEventListener("htmx:sendError", function () {
    say("The portal could not be reached. Check your connection and try again.");
  });
})();
