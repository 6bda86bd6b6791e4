/* Import page: follow the running import without reloading. The job runs in a server thread;
   this only polls /api/v1/people/import/jobs/<id> and, when it ends, reloads the page, which
   shows the summary (the page works without JavaScript too: reload it by hand). */
(function () {
  "use strict";
  var POLL_MS = 1000;
  var box = document.getElementById("import-job");
  if (!box) return;

  function show(job) {
    var done = job.state === "done";
    var d = job.detail || {};
    // While it runs: the current step's share ("photo N of M"), as the page renders it.
    var step = job.running && typeof d.step_progress === "number" ? d.step_progress : null;
    var fraction = done ? 1 : (step !== null ? step : (job.progress || 0));
    var bar = document.getElementById("import-progress");
    bar.value = fraction;
    bar.textContent = Math.round(fraction * 100) + "%";
    document.getElementById("import-percent").textContent = Math.round(fraction * 100) + "%";
    var stage = done ? "Done" : (job.state === "failed" ? "Stopped" : job.stage);
    document.getElementById("import-stage").textContent = stage;
    var counts = document.getElementById("import-counts");
    if (counts && d.total) {
      counts.textContent = (d.done || 0) + " of " + d.total + " photos: " + (d.accepted || 0) + " accepted, " +
        (d.refused || 0) + " refused, " + (d.duplicates || 0) + " duplicates.";
    }
    box.dataset.jobState = job.state;
    box.dataset.phase = d.phase || "";
  }

  async function follow() {
    for (;;) {
      var job;
      try {
        job = (await Admin.api(box.dataset.api)).body;
      } catch (err) {
        document.getElementById("import-stage").textContent = "Cannot follow the import: " + err.message;
        return;
      }
      show(job);
      if (!job.running) {
        window.setTimeout(function () { window.location.reload(); }, 700);
        return;
      }
      await new Promise(function (resolve) { window.setTimeout(resolve, POLL_MS); });
    }
  }

  var state = box.dataset.jobState;
  if (state === "queued" || state === "running") follow();
})();
