/* Person page: enroll from the admin's webcam.
   The video runs on requestAnimationFrame; every ~500 ms (never two at once) a small frame is
   posted to the face check, which answers whether exactly one usable face is seen, so the
   video never stutters. "Take photo" keeps a full-resolution shot; "Enroll" uploads the shots
   through the same API as file uploads, and each one is accepted or refused with its reason.
   Its words come in the console's language through Admin.t (kiosk/web/console_text.py). */
(function () {
  "use strict";
  var root = document.getElementById("webcam");
  if (!root) return;

  var CHECK_EVERY_MS = 500;
  var CHECK_WIDTH = 480;
  var video = document.getElementById("webcam-video");
  var overlay = document.getElementById("webcam-overlay");
  var statusLine = document.getElementById("webcam-status");
  var startButton = document.getElementById("webcam-start");
  var shootButton = document.getElementById("webcam-shoot");
  var enrollButton = document.getElementById("webcam-enroll");
  var countLabel = document.getElementById("webcam-count");
  var shotsList = document.getElementById("webcam-shots");
  var resultsBox = document.getElementById("webcam-results");
  var t = Admin.t;

  var lastCheck = 0;
  var checking = false;
  var lastVerdict = null;
  var shots = [];

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = "status" + (kind ? " " + kind : "");
  }

  var cam = Admin.camera(video, say, " " + t("webcam.what_instead"));
  var grab = cam.grab;

  function drawBoxes(verdict) {
    var rect = video.getBoundingClientRect();
    overlay.width = rect.width;
    overlay.height = rect.height;
    var ctx = overlay.getContext("2d");
    ctx.clearRect(0, 0, overlay.width, overlay.height);  // clear before every redraw
    if (!verdict || !verdict.boxes || !video.videoWidth) return;
    // The video is letterboxed by object-fit: contain; map normalised boxes onto it.
    var scale = Math.min(rect.width / video.videoWidth, rect.height / video.videoHeight);
    var w = video.videoWidth * scale, h = video.videoHeight * scale;
    var ox = (rect.width - w) / 2, oy = (rect.height - h) / 2;
    ctx.lineWidth = 3;
    ctx.strokeStyle = verdict.ok ? "#12b76a" : "#f04438";
    verdict.boxes.forEach(function (b) { ctx.strokeRect(ox + b[0] * w, oy + b[1] * h, b[2] * w, b[3] * h); });
  }

  async function check() {
    checking = true;
    try {
      var blob = await grab(CHECK_WIDTH, 0.8);
      var form = new FormData();
      form.append("frame", blob, "frame.jpg");
      var verdict = (await Admin.api(root.dataset.checkUrl, { method: "POST", body: form })).body;
      if (!cam.on) return;  // stopped meanwhile: "the camera is off" stays
      lastVerdict = verdict;
      say(verdict.message, verdict.ok ? "ok" : "bad");
      shootButton.disabled = !verdict.ok;
      drawBoxes(verdict);
    } catch (err) {
      lastVerdict = null;
      shootButton.disabled = true;
      if (cam.on) say(err.message, "bad");
    } finally {
      checking = false;
    }
  }

  function loop(now) {
    if (!cam.on) return;
    if (!checking && video.videoWidth && now - lastCheck >= CHECK_EVERY_MS) {
      lastCheck = now;
      check();
    }
    window.requestAnimationFrame(loop);
  }

  function updateCount() {
    countLabel.textContent = String(shots.length);
    enrollButton.disabled = shots.length === 0;
  }

  startButton.addEventListener("click", async function () {
    var on = await cam.toggle();
    startButton.textContent = on ? t("camera.stop") : t("camera.start");
    shootButton.disabled = true;
    if (!on) {
      drawBoxes(null);
      return;
    }
    say(t("webcam.looking"));
    window.requestAnimationFrame(loop);
  });

  shootButton.addEventListener("click", async function () {
    if (!lastVerdict || !lastVerdict.ok) return;
    var blob = await grab(1280, 0.92);
    var shot = { blob: blob, url: URL.createObjectURL(blob) };
    shots.push(shot);
    var item = document.createElement("li");
    var img = document.createElement("img");
    img.src = shot.url;
    img.alt = t("webcam.shot", { number: shots.length });
    var remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", t("webcam.discard", { number: shots.length }));
    remove.addEventListener("click", function () {
      shots.splice(shots.indexOf(shot), 1);
      URL.revokeObjectURL(shot.url);
      item.remove();
      updateCount();
    });
    item.appendChild(img);
    item.appendChild(remove);
    shotsList.appendChild(item);
    updateCount();
    say(t("webcam.taken", { number: shots.length }), "ok");
  });

  function addCrop(sample) {
    var grid = document.querySelector("#samples .crops");
    if (!grid) {
      grid = document.createElement("ul");
      grid.className = "crops";
      var empty = document.querySelector("#samples p.muted");
      if (empty) empty.replaceWith(grid); else document.getElementById("samples").appendChild(grid);
    }
    var li = document.createElement("li");
    li.className = "crop";
    var img = document.createElement("img");
    img.src = sample.crop_url;
    img.alt = t("webcam.new_crop", { photo: sample.source_photo });
    img.width = 112;
    img.height = 112;
    li.appendChild(img);
    var q = document.createElement("div");
    q.className = "muted small";
    q.textContent = sample.quality === null ? t("webcam.new_quality_unknown")
      : t("webcam.new_quality", { quality: Admin.number(sample.quality, 2) });
    li.appendChild(q);
    grid.appendChild(li);
  }

  enrollButton.addEventListener("click", async function () {
    if (!shots.length) return;
    enrollButton.disabled = true;
    resultsBox.textContent = t("webcam.enrolling", { count: shots.length });
    var form = new FormData();
    shots.forEach(function (shot, i) { form.append("photos", shot.blob, "webcam-" + (i + 1) + ".jpg"); });
    try {
      var answer = (await Admin.api(root.dataset.enrollUrl, { method: "POST", body: form, acceptStatus: [422] })).body;
      var list = document.createElement("ul");
      list.className = "plain";
      answer.results.forEach(function (r) {
        var li = document.createElement("li");
        li.textContent = r.accepted ? t("webcam.accepted", { file: r.file })
          : t("webcam.refused", { file: r.file, reason: Admin.refusal(r.code, r.message) });
        li.className = r.accepted ? "ok" : "refused";
        if (r.warning) {
          var warn = document.createElement("p");
          warn.className = "warning";
          warn.setAttribute("role", "alert");
          warn.textContent = "⚠ " + Admin.refusal(r.warning_code, r.warning, r.warning_fields);
          li.appendChild(warn);
        }
        if (r.accepted) addCrop(r.sample);
        list.appendChild(li);
      });
      var summary = root.dataset.retrainsItself === "true" ? "webcam.summary_background" : "webcam.summary";
      resultsBox.textContent = t(summary, { accepted: answer.accepted, total: answer.results.length });
      resultsBox.appendChild(list);
      shots.forEach(function (s) { URL.revokeObjectURL(s.url); });
      shots = [];
      shotsList.textContent = "";
    } catch (err) {
      resultsBox.textContent = err.message;
    }
    updateCount();
  });
})();
