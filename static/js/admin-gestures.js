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
  var stream = null;
  var busy = false;

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "status" + (kind ? " " + kind : "");
  }

  function label() {
    var checked = document.querySelector('input[name="gesture-label"]:checked');
    return checked ? checked.value : "idle";
  }

  function grab() {
    var scale = Math.min(1, 640 / video.videoWidth);
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", 0.85); });
  }

  function showCounts(samples) {
    Object.keys(samples || {}).forEach(function (key) {
      var cell = document.querySelector('#gesture-counts tr[data-label="' + key + '"] td.num');
      if (cell) cell.textContent = samples[key];
    });
  }

  async function recordOne() {
    var form = new FormData();
    form.append("label", label());
    form.append("frame", await grab(), "frame.jpg");
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
          say("Recorded " + saved + " “" + label() + "” sample(s).", "ok");
        } catch (err) {
          say(err.message, "bad");
        }
        if (i + 1 < times) await new Promise(function (r) { window.setTimeout(r, 500); });
      }
    } finally {
      busy = false;
      recordButton.disabled = burstButton.disabled = !stream;
    }
  }

  startButton.addEventListener("click", async function () {
    if (stream) {
      stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
      video.srcObject = null;
      startButton.textContent = "Start camera";
      recordButton.disabled = burstButton.disabled = true;
      say("The camera is off.");
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("This browser cannot open the camera here (it needs HTTPS).", "bad");
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
    } catch (err) {
      say("The camera could not be opened (" + err.name + ").", "bad");
      return;
    }
    video.srcObject = stream;
    await video.play().catch(function () {});
    startButton.textContent = "Stop camera";
    recordButton.disabled = burstButton.disabled = false;
    say("Ready. Choose the gesture, strike the pose, then record.");
  });
  recordButton.addEventListener("click", function () { record(1); });
  burstButton.addEventListener("click", function () { record(10); });
})();
