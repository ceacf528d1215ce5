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

  // The fleet view's rows in motion (a job just cancelled, on any service of any site), as its poll sends them:
  // "site:Folder/Name:jobId:status[:flag]". The rows settle by themselves; with none in motion, nothing is asked.
  var MOVING = ["esriJobCancelling", "esriJobDeleting"];
  function movingRows() {
    var found = [];
    document.querySelectorAll("tr.job[data-site][data-status]").forEach(function (tr) {
      if (MOVING.indexOf(tr.dataset.status) < 0) { return; }
      var state = [tr.dataset.site, tr.dataset.service, tr.id.slice(4), tr.dataset.status];
      if (tr.dataset.flag) { state.push(tr.dataset.flag); }
      found.push(state.join(":"));
    });
    return found.slice(0, 20);
  }
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.hasAttribute("data-watch-moving")) { event.detail.parameters.rows = movingRows().join(","); }
  });

  // A hidden tab does not poll: the request waits until the tab is visible again.
  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    if (elt.hasAttribute("data-watch-moving") && !movingRows().length) { event.preventDefault(); return; }
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
  // The fleet view's table is read again as a whole (every 30 s): a row an action answered (its outcome shown)
  // stays where it was, with everything it showed, also once its job has left the list (a cancelled job is no
  // longer active). Only the operator's reload lets it go.
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var old = event.detail.target;
    if (!old || old.id !== "fleet-rows") { return; }
    var fresh = event.detail.fragment.querySelector("#fleet-rows") || event.detail.fragment.firstElementChild;
    if (!fresh) { return; }
    var anchor = null;  // where in the fresh table the last row seen of the old one is
    Array.prototype.slice.call(old.querySelectorAll("tr.job")).forEach(function (tr) {
      var counterpart = fresh.querySelector("#" + CSS.escape(tr.id));
      if (counterpart) { anchor = counterpart; return; }
      var outcome = tr.querySelector("[role=status]");
      if (!outcome || !outcome.textContent.trim()) { return; }
      var placeholder = fresh.querySelector("tr:not(.job)");
      if (placeholder) { placeholder.remove(); }  // "No jobs match." no longer says it
      fresh.insertBefore(tr, anchor ? anchor.nextSibling : fresh.firstChild);
      anchor = tr;
    });
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

  // A sort menu that htmx does not send applies a choice at once.
  document.addEventListener("change", function (event) {
    var menu = event.target.closest && event.target.closest("form[data-sort-menu]:not([hx-get])");
    if (menu) { menu.requestSubmit(); }
  });

  // The selection of a bulk action: the rows' boxes ("3 selected"), all of the page (the header's box), then,
  // when the list has more pages, all jobs its filters match ("All 312 matching selected"). An action clears it.
  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('input[name="job_ids"][form="bulk-form"]:not(:disabled)'));
  }
  function morePages(banner) {
    return !banner.hasAttribute("data-fleet") || !!document.querySelector("#fleet-pager a");
  }
  function showSelection() {
    var form = document.getElementById("bulk-form");
    if (!form) { return; }
    var all = form.querySelector("[data-all-matching]");
    var ticked = boxes().filter(function (box) { return box.checked; }).length;
    var wholePage = ticked > 0 && ticked === boxes().length;
    if (!wholePage) { all.value = ""; }  // unticking a row leaves "all matching"
    document.querySelectorAll("[data-select-all]").forEach(function (box) { box.checked = wholePage; });
    var count = form.querySelector("[data-selection-count]");
    if (count) {
      count.textContent = all.value ? "All " + all.dataset.count + " matching selected"
        : ticked ? ticked + " selected" : "None selected";
    }
    var banner = document.querySelector("[data-select-matching]");
    if (!banner) { return; }
    banner.hidden = !wholePage || !morePages(banner);
    banner.querySelector("[data-when-page]").hidden = !!all.value;
    banner.querySelector("[data-when-all]").hidden = !all.value;
    var counter = banner.querySelector("[data-count-matching]");
    if (!banner.hidden && counter && window.htmx) { htmx.trigger(counter, "matching-wanted"); }
  }
  function clearSelection() {
    boxes().forEach(function (box) { box.checked = false; });
    showSelection();
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-select-all]")) {
      boxes().forEach(function (box) { box.checked = target.checked; });
    } else if (!target.matches('input[name="job_ids"]')) {
      return;
    }
    showSelection();
  });
  document.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("button, a") : null;
    if (!target) { return; }
    if (target.matches("[data-select-all-matching]")) {
      var all = document.querySelector("#bulk-form [data-all-matching]");
      all.value = "1";
      all.dataset.count = target.dataset.count;
      document.querySelectorAll("[data-matching-count]").forEach(function (el) { el.textContent = target.dataset.count; });
      showSelection();
    } else if (target.matches("[data-clear-selection]")) {
      clearSelection();
    } else if (target.matches("[data-bulk-confirm] [data-dismiss]")) {
      event.preventDefault();
      dismiss(target.closest("[data-bulk-confirm]"));
    }
  });
  // "Keep them" (or Escape): the question goes away, the selection stays, the keyboard is back at the buttons.
  function dismiss(question) {
    question.remove();
    var first = document.querySelector("#bulk-form button");
    if (first) { first.focus(); }
  }
  document.addEventListener("keydown", function (event) {
    var question = event.key === "Escape" && event.target.closest ? event.target.closest("[data-bulk-confirm]") : null;
    if (question) { dismiss(question); }
  });
  document.addEventListener("htmx:load", function (event) {
    showSelection();
    var question = event.detail.elt.querySelector && (event.detail.elt.matches("[data-bulk-confirm]") ?
      event.detail.elt : event.detail.elt.querySelector("[data-bulk-confirm]"));
    if (question) { question.querySelector("button[type=submit]").focus(); }
  });

  // A confirmed bulk streams its answer (server-sent events of the POST): progress ("212 of 500 done"), each
  // row's outcome as it comes, then the summary. Its selection is spent: it is cleared at once.
  function handleEvent(block) {
    var name = "message", data = [];
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event: ") === 0) { name = line.slice(7); }
      else if (line.indexOf("data: ") === 0) { data.push(line.slice(6)); }
    });
    if (name === "fragment") { htmx.swap(document.body, data.join("\n"), { swapStyle: "none" }); }
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-bulk-stream]") || !window.fetch || !window.TextDecoder || !window.htmx) { return; }
    event.preventDefault();
    form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
    clearSelection();
    // One bulk at a time from a page: its buttons wait until this one has ended.
    var bulkButtons = document.querySelectorAll("#bulk-form button");
    bulkButtons.forEach(function (button) { button.disabled = true; });
    var decoder = new TextDecoder(), buffer = "";
    fetch(form.getAttribute("action"), {  // (form.action would be its input named "action")
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "Accept": "text/event-stream", "HX-Request": "true", "HX-Current-URL": location.href }
    }).then(function (response) {
      if (!response.ok || !response.body) {
        say("The portal answered HTTP " + response.status + "; nothing was sent to ArcGIS. Try again.");
        return null;
      }
      var reader = response.body.getReader();
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { return null; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var blocks = buffer.split("\n\n");
          buffer = blocks.pop();
          blocks.forEach(handleEvent);
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      say("The connection to the portal broke off while the bulk ran; it carries on, and the audit trail says what it did.");
    }).then(function () {
      bulkButtons.forEach(function (button) { button.disabled = false; });
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

  // Durations of jobs that have not ended keep counting (as jobs/rows.py's duration() writes them), from the
  // seconds the row was rendered with: the browser's own clock may be off, its stopwatch is not.
  var since = new WeakMap();
  function durationText(seconds) {
    var hours = Math.floor(seconds / 3600), minutes = Math.floor((seconds % 3600) / 60), rest = seconds % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    if (hours) { return hours + " h " + two(minutes) + " min"; }
    if (minutes) { return minutes + " min " + two(rest) + " s"; }
    return rest + " s";
  }
  // How old the job index's answer is (the fleet view's "as of 4 s ago"): it keeps counting until the next refresh.
  function ageText(seconds) {
    return seconds < 90 ? seconds + " s ago" : Math.round(seconds / 60) + " min ago";
  }
  function tick() {
    var now = performance.now();
    document.querySelectorAll("[data-elapsed]").forEach(function (el) {
      if (!since.has(el)) { since.set(el, now - 1000 * Number(el.dataset.elapsed)); }
      var text = durationText(Math.max(0, Math.floor((now - since.get(el)) / 1000)));
      if (el.textContent !== text) { el.textContent = text; }
    });
    document.querySelectorAll("[data-age]").forEach(function (el) {
      if (!since.has(el)) { since.set(el, now - 1000 * Number(el.dataset.age)); }
      var text = ageText(Math.max(0, Math.floor((now - since.get(el)) / 1000)));
      if (el.textContent !== text) { el.textContent = text; }
    });
  }
  document.addEventListener("htmx:load", tick);
  setInterval(tick, 1000);

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
