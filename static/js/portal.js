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

  // A filter form leaves out its empty fields, however it is sent (a form's submission, htmx's request, which both
  // build their FormData from the form): the address says only what was asked for ("?user=svc_batch").
  document.addEventListener("formdata", function (event) {
    if (!event.target.matches || !event.target.matches("form.filters")) { return; }
    var empty = [];
    event.formData.forEach(function (value, name) { if (value === "") { empty.push(name); } });
    empty.forEach(function (name) { event.formData.delete(name); });
  }, true);

  // A confirmation shown in the page ("Purge the queue of …?") is read first, and "Keep the queue" only closes it
  // (without JavaScript that link goes back to the page).
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    var confirmation = target && target.querySelector && target.querySelector("section.confirm");
    if (confirmation) { confirmation.setAttribute("tabindex", "-1"); confirmation.focus(); }
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-dismiss]");
    var closing = link && document.getElementById(link.getAttribute("data-dismiss"));
    if (closing) { event.preventDefault(); closing.remove(); }
  });

  // On a phone a page's filters fold away under a line that says which are set ("Filters (Status: Executing ·
  // User: svc_batch)"), so the jobs start on the first screen; on a wider screen they stay open.
  var phone = window.matchMedia("(max-width: 720px)");
  function filterWords(form) {
    var words = [], boxes = {};
    form.querySelectorAll("select, input").forEach(function (field) {
      if (!field.name || field.type === "hidden" || field.type === "submit") { return; }
      var label = field.id && form.querySelector('label[for="' + field.id + '"]');
      var name = label ? label.textContent.trim() : "";
      if (field.type === "checkbox") {
        if (!field.checked) { return; }
        var legend = field.closest("fieldset") && field.closest("fieldset").querySelector("legend");
        var text = field.closest("label") ? field.closest("label").textContent.trim() : field.value;
        if (legend) { (boxes[legend.textContent.trim()] = boxes[legend.textContent.trim()] || []).push(text); }
        else { words.push(text); }
      } else if (field.tagName === "SELECT") {
        if (field.value === "" || field.value === field.dataset.default) { return; }
        words.push(name + ": " + field.options[field.selectedIndex].text);
      } else if (field.value.trim()) {
        words.push(name + ": " + field.value.trim());
      }
    });
    Object.keys(boxes).forEach(function (legend) { words.unshift(legend + ": " + boxes[legend].join(", ")); });
    return words.length ? " (" + words.join(" · ") + ")" : " (none set)";
  }
  function foldFilters(onLoad) {
    document.querySelectorAll("details[data-fold-on-phone]").forEach(function (panel) {
      var line = panel.querySelector("[data-filters-of]");
      var form = line && document.getElementById(line.getAttribute("data-filters-of"));
      if (form) { line.textContent = filterWords(form); }
      if (!phone.matches) { panel.open = true; }
      else if (onLoad && !panel.hasAttribute("data-keep-open")) { panel.open = false; }
    });
  }
  foldFilters(true);
  phone.addEventListener("change", function () { foldFilters(false); });
  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("details[data-fold-on-phone]")) { foldFilters(false); }
  });

  // Copy a secret shown once (a new API token). The button shows only where a script can copy; where the clipboard
  // is out of reach the text is selected, ready for the keyboard's copy.
  document.querySelectorAll("[data-copy]").forEach(function (button) { button.hidden = false; });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) { return; }
    var id = button.getAttribute("data-copy");
    var source = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    function say(text) { if (status) { status.textContent = text; } }
    function selectIt() {
      var range = document.createRange();
      range.selectNodeContents(source);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      say("Selected: copy it with Ctrl-C (⌘-C on a Mac).");
    }
    if (!source) { return; }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () { say("Copied."); }, selectIt);
    } else {
      selectIt();
    }
  });

  // "Save these filters as a view" saves the address as it is now (htmx changes it as filters change).
  document.addEventListener("submit", function (event) {
    if (!event.target.matches || !event.target.matches("form[data-save-view]")) { return; }
    event.target.querySelector('input[name="url"]').value = location.pathname + location.search;
  });

  // A menu of the top bar (Views) closes when the pointer or the keyboard goes elsewhere, or on Escape.
  function closeMenus(except) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (menu !== except) { menu.open = false; }
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest && event.target.closest("details[data-menu]"));
  });
  document.addEventListener("focusin", function (event) {
    closeMenus(event.target.closest && event.target.closest("details[data-menu]"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var open = document.querySelector("details[data-menu][open]");
    if (open) { open.open = false; open.querySelector("summary").focus(); }
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
    var p = document.createElement("p");
    p.className = "message message-error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    area.appendChild(p);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 403) { say("Your role does not allow this action."); }
    else if (status === 400) { say("The portal refused that request as malformed; nothing was sent to ArcGIS."); }
    else { say("The portal answered HTTP " + status + "; nothing else changed. Try again."); }
  });
  document.addEventListener("htmx:sendError", function () {
    say("The portal could not be reached. Check your connection and try again.");
  });
})();
