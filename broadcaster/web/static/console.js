// broadcaster console: live progress (polls a JSON endpoint every 2 s) and confirmations. No libraries.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var STATUSES = ["delivered", "failed", "expired", "skipped", "cancelled", "sent", "sending", "queued"];

  function fmt(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "."); }
  function pct(part, whole) { return whole ? Math.round(1000 * part / whole) / 10 : 0; }

  function setField(root, name, value) {
    var el = root.querySelector(":scope > [data-field='" + name + "'], :scope [data-field='" + name + "']");
    if (el) { el.textContent = value; }
  }

  function setBar(bar, counts, total) {
    if (!bar) { return; }
    STATUSES.forEach(function (s) {
      var seg = bar.querySelector("[data-status='" + s + "']");
      if (seg) { seg.style.width = pct(counts[s] || 0, total) + "%"; }
    });
  }

  function updateRun(card, run) {
    var totals = card.querySelector(".totals");
    if (totals) {
      setField(totals, "done", fmt(run.done));
      setField(totals, "targeted", fmt(run.targeted));
      setField(totals, "percent", String(run.percent).replace(".", ","));
      setField(totals, "delivered", fmt(run.totals.delivered));
      setField(totals, "failed", fmt(run.totals.failed));
    }
    setBar(card.querySelector(":scope > .bar"), run.totals, run.targeted);
    var status = card.querySelector(".run-status .badge");
    if (status) { status.className = "badge s-" + run.status; status.textContent = run.status_label; }
    run.districts.forEach(function (d) {
      var row = card.querySelector("tr[data-district='" + d.code + "']");
      if (!row) { return; }
      setField(row, "done", fmt(d.done));
      setField(row, "targeted", fmt(d.targeted));
      setField(row, "percent", String(d.percent).replace(".", ","));
      STATUSES.forEach(function (s) {
        var cell = row.querySelector("[data-count='" + s + "']");
        if (cell) { cell.textContent = fmt(d.counts[s] || 0); }
      });
      setBar(row.querySelector(".bar"), d.counts, d.targeted);
    });
    return card.querySelectorAll("tr[data-district]").length === run.districts.length;
  }

  function pollRuns(container) {
    var url = container.getAttribute("data-poll");
    var single = container.hasAttribute("data-single");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.status === 401 || r.redirected) { window.location.reload(); throw new Error("signed out"); }
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.json();
        })
        .then(function (data) {
          var runs = single ? [data] : data.runs;
          var known = (container.getAttribute("data-run-ids") || "").split(",").filter(Boolean);
          var ids = runs.map(function (r) { return String(r.id); });
          var complete = true;
          runs.forEach(function (run) {
            var card = container.querySelector("[data-run='" + run.id + "']");
            if (card) { complete = updateRun(card, run) && complete; } else { complete = false; }
          });
          // A new run, a vanished run or a new district: render the page again from the server.
          if (!single && (!complete || ids.join(",") !== known.join(","))) { window.location.reload(); return; }
          if (single && !complete) { window.location.reload(); return; }
          container.removeAttribute("data-error");
        })
        .catch(function () { container.setAttribute("data-error", "1"); })
        .then(function () { window.setTimeout(tick, POLL_MS); });
    }
    window.setTimeout(tick, POLL_MS);
  }

  function pollJob(el) {
    var url = el.getAttribute("data-poll-job");
    function tick() {
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (job) {
          if (job.finished) { window.location.reload(); return; }
          var rows = el.querySelector("[data-field='rows']");
          if (rows) { rows.textContent = fmt(job.rows); }
          window.setTimeout(tick, POLL_MS);
        })
        .catch(function () { window.setTimeout(tick, POLL_MS); });
    }
    window.setTimeout(tick, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(pollRuns);
    document.querySelectorAll("[data-poll-job]").forEach(pollJob);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  });
})();
