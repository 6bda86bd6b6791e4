/* Gesture recorder: posts webcam frames with the chosen label; the server reads the pose
   landmarks with the same model the kiosk uses and stores them as a training sample. */
(function () {
  "use strict";
  var root = document.getElementById("gesture-recorder");
  if (!root) return;
  var video = document.getElementById("gesture-video");
  var statusLine = document.getElementById("gesture-status");
  var startButton = document.getElementById("gesture-start");
  var recordButton = document.getElementById("gesture-record");
  var burstButton = document.getElementById("gesture-burst");
  var busy = false;

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "status" + (kind ? " " + kind : "");
  }

  function label() {
    var checked = document.querySelector('input[name="gesture-label"]:checked');
    return checked ? checked.value : root.dataset.idleLabel;
  }

  function labelWords() { // what the page calls the chosen gesture, in its language
    var checked = document.querySelector('input[name="gesture-label"]:checked');
    return checked ? checked.dataset.words : root.dataset.idleLabel;
  }

  var cam = Admin.camera(video, say);

  function showCounts(samples) {
    Object.keys(samples || {}).forEach(function (key) {
      var cell = document.querySelector('#gesture-counts tr[data-label="' + key + '"] td.num');
      if (cell) cell.textContent = samples[key];
    });
  }

  async function recordOne() {
    var form = new FormData();
    form.append("label", label());
    form.append("frame", await cam.grab(640, 0.85), "frame.jpg");
    var answer = (await Admin.api(root.dataset.recordUrl, { method: "POST", body: form })).body;
    showCounts(answer.samples);
    return answer;
  }

  async function record(times) {
    if (busy) return;
    busy = true;
    recordButton.disabled = burstButton.disabled = true;
    var saved = 0;
    try {
      for (var i = 0; i < times; i++) {
        try {
          await recordOne();
          saved += 1;
          say(Admin.t("gestures.recorded", { count: saved, gesture: labelWords() }), "ok");
        } catch (err) {
          say(err.message, "bad");
        }
        if (i + 1 < times) await new Promise(function (r) { window.setTimeout(r, 500); });
      }
    } finally {
      busy = false;
      recordButton.disabled = burstButton.disabled = !cam.on;
    }
  }

  startButton.addEventListener("click", async function () {
    var on = await cam.toggle();
    startButton.textContent = on ? Admin.t("camera.stop") : Admin.t("camera.start");
    recordButton.disabled = burstButton.disabled = !on;
    if (on) say(Admin.t("gestures.ready"));
  });
  recordButton.addEventListener("click", function () { record(1); });
  burstButton.addEventListener("click", function () { record(10); });
})();
