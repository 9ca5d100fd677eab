// The console's only script, served from /static (no inline script: the CSP forbids it).
// Everything works without it; it only adds convenience on top of the server's checks.
"use strict";

// The approve button stays disabled until every required checkbox of its form is ticked.
function guardApprove() {
  document.querySelectorAll("button[data-needs-all]").forEach(function (button) {
    var form = document.getElementById(button.getAttribute("data-needs-all"));
    if (!form) return;
    var boxes = form.querySelectorAll("input[type=checkbox][required]");
    var update = function () {
      var all = Array.prototype.every.call(boxes, function (b) { return b.checked; });
      button.disabled = !all;
    };
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  });
}

// Live job progress from server-sent events; unknown jobs reload the page once.
function liveJobs() {
  var table = document.querySelector("table[data-live]");
  if (!table || !window.EventSource) return;
  var source = new EventSource(table.getAttribute("data-live"));
  var reloaded = false;
  source.addEventListener("jobs", function (ev) {
    var jobs;
    try { jobs = JSON.parse(ev.data); } catch (e) { return; }
    jobs.forEach(function (job) {
      var row = table.querySelector('tr[data-job="' + CSS.escape(job.id) + '"]');
      if (!row) {
        if (!reloaded) { reloaded = true; source.close(); window.location.reload(); }
        return;
      }
      ["state", "progress", "rejected", "finished"].forEach(function (f) {
        var cell = row.querySelector('[data-f="' + f + '"]');
        if (cell) cell.textContent = String(job[f]);
      });
      var bar = row.querySelector('progress[data-f="percent"]');
      if (bar) bar.value = job.percent;
    });
  });
  source.addEventListener("ended", function () { source.close(); });
}

document.addEventListener("DOMContentLoaded", function () {
  guardApprove();
  liveJobs();
});
