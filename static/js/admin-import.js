/* Import page: follow the running import without reloading. The job runs in a server thread;
   this only polls /api/v1/people/import/jobs/<id> and, when it ends, reloads the page, which
   shows the summary (the page works without JavaScript too: reload it by hand). It writes the
   step line and the counts in the console's language, as the page does (Admin.t). */
(function () {
  "use strict";
  var POLL_MS = 1000;
  var box = document.getElementById("import-job");
  if (!box) return;
  var t = Admin.t;

  // The step line from the job's phase and counts; other stages are the job's own few words.
  function stageLine(job, d) {
    if (job.state === "done") return t("import.done");
    if (job.state === "failed") return t("import.stopped");
    if (d.phase === "importing") {
      var line = t("import.importing", { done: d.done, total: d.total });
      if (d.seconds > 0 && d.done > 0 && d.done < d.total) {
        var rate = d.done / d.seconds;
        line += " " + t("import.rate", { rate: Admin.number(rate, 1), left: Admin.duration((d.total - d.done) / rate) });
      }
      return line;
    }
    if (d.phase === "training") return t("import.training");
    return Admin.stage(job);
  }

  function show(job) {
    var done = job.state === "done";
    var d = job.detail || {};
    // While it runs: the current step's share ("photo N of M"), as the page renders it.
    var step = job.running && typeof d.step_progress === "number" ? d.step_progress : null;
    var fraction = done ? 1 : (step !== null ? step : (job.progress || 0));
    var bar = document.getElementById("import-progress");
    bar.value = fraction;
    bar.textContent = Admin.percent(fraction);
    document.getElementById("import-percent").textContent = Admin.percent(fraction);
    document.getElementById("import-stage").textContent = stageLine(job, d);
    var counts = document.getElementById("import-counts");
    if (counts && d.total) {
      counts.textContent = t("import.counts", { done: d.done || 0, total: d.total, accepted: d.accepted || 0,
                                               refused: d.refused || 0, duplicates: d.duplicates || 0 });
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
        document.getElementById("import-stage").textContent = t("import.lost", { error: err.message });
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
