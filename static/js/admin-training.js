/* Models page: start retraining through the API and show its progress without reloading.
   The job runs in a server thread; this only polls /api/v1/models/jobs/<id>. Its own words come
   in the console's language (Admin.t); a stage line is the job's. */
(function () {
  "use strict";
  var POLL_MS = 1000;
  var t = Admin.t;

  function jobBox(kind) { return document.querySelector('.job[data-job-kind="' + kind + '"]'); }

  function render(kind, job) {
    var box = jobBox(kind);
    if (!box) return;
    box.dataset.jobId = job.id;
    box.dataset.jobState = job.state;
    box.textContent = "";
    if (job.running) {
      var bar = document.createElement("progress");
      bar.max = 1;
      bar.value = job.progress || 0;
      bar.setAttribute("aria-label", t("training.progress"));
      box.appendChild(bar);
    }
    var stage = document.createElement("span");
    stage.className = "job-stage";
    if (job.state === "done") {
      stage.className += " badge badge-good";
      stage.textContent = t("training.done");
    } else if (job.state === "failed") {
      stage.className += " badge badge-bad";
      stage.textContent = t("training.failed", { error: job.error || t("training.unknown_error") });
    } else {
      stage.textContent = t("training.stage", { stage: Admin.stage(job),
                                                percent: Admin.percent(job.progress || 0) });
    }
    box.appendChild(stage);
  }

  async function poll(kind, jobId) {
    var form = document.querySelector('.train-form[data-kind="' + kind + '"]');
    var button = form && form.querySelector("button");
    for (;;) {
      var job;
      try {
        job = (await Admin.api("/api/v1/models/jobs/" + encodeURIComponent(jobId))).body;
      } catch (err) {
        render(kind, { id: jobId, state: "failed", error: err.message });
        if (button) button.disabled = false;
        return;
      }
      render(kind, job);
      if (!job.running) {
        if (button) button.disabled = false;
        if (job.state === "done") window.setTimeout(function () { window.location.reload(); }, 600);
        return;
      }
      await new Promise(function (resolve) { window.setTimeout(resolve, POLL_MS); });
    }
  }

  document.querySelectorAll(".train-form").forEach(function (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var kind = form.dataset.kind;
      var button = form.querySelector("button");
      button.disabled = true;
      try {
        var answer = await Admin.api(form.dataset.api, { method: "POST", acceptStatus: [409] });
        var job = answer.status === 409 ? answer.body.job : answer.body;
        render(kind, job);
        poll(kind, job.id);
      } catch (err) {
        render(kind, { id: "", state: "failed", error: err.message });
        button.disabled = false;
      }
    });
  });

  // A job already running when the page loaded (started here or from another tab) is followed too.
  document.querySelectorAll(".job[data-job-id]").forEach(function (box) {
    var state = box.dataset.jobState;
    if (state === "queued" || state === "running") {
      var button = document.querySelector('.train-form[data-kind="' + box.dataset.jobKind + '"] button');
      if (button) button.disabled = true;
      poll(box.dataset.jobKind, box.dataset.jobId);
    }
  });
})();
