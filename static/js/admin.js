/* Admin console helpers shared by every page: CSRF-aware fetch, confirmation prompts, the webcam.
   Pages work without JavaScript; these scripts only make them nicer. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* Every word the scripts write, in the console's language (kiosk/web/console_text.py, handed
     over by the page): t(key, values) is the key's text with its %(name)s filled from values. */
  var textMeta = document.querySelector('meta[name="console-text"]');
  var TEXT = JSON.parse((textMeta && textMeta.getAttribute("content")) || "{}");
  var LANGUAGE = document.documentElement.lang || "en";
  function t(key, values) {
    var text = Object.prototype.hasOwnProperty.call(TEXT, key) ? TEXT[key] : key;
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }
  // A job's stage line in the console's language: its template's words with the job's values
  // (kiosk/services/job_stages.py); a line the console has no words for, as the job wrote it.
  function stage(job) {
    var key = "stage." + (job.stage_template || job.stage);
    return Object.prototype.hasOwnProperty.call(TEXT, key) ? t(key, job.stage_values || {}) : job.stage;
  }
  // A refusal (or warning) an API call answered with, in the console's language by its code, its
  // values filled from fields; the service's English in English, for a code the console has no
  // sentence for, or when a value its sentence needs is missing (kiosk/web/console_errors.py).
  function refusal(code, english, fields) {
    var key = "refusal." + code;
    if (LANGUAGE === "en" || !code || !Object.prototype.hasOwnProperty.call(TEXT, key)) return english;
    var sentence = t(key, fields || {});
    return /%\(\w+\)s/.test(sentence) ? english : sentence;
  }
  // Figures as the console's language writes them ("0,80", "85 %" in German).
  function number(value, digits) {
    return new Intl.NumberFormat(LANGUAGE, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
  }
  function percent(fraction) {  // whole percent, rounded half up like the server's pages
    return new Intl.NumberFormat(LANGUAGE, { style: "percent" }).format(Math.floor(fraction * 100 + 0.5) / 100);
  }
  // A wait, rounded: seconds under a minute, else minutes, as the server's pages write it.
  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    var minutes = seconds < 60 ? null : Math.ceil(seconds / 60);
    return new Intl.NumberFormat(LANGUAGE, { style: "unit", unit: minutes === null ? "second" : "minute",
                                             unitDisplay: "short" }).format(minutes === null ? seconds : minutes);
  }

  /* fetch() for the admin API: same-origin cookies, the CSRF header, JSON errors turned into
     Error objects whose message is the server's sentence for people. */
  async function api(url, options) {
    options = Object.assign({ method: "GET", credentials: "same-origin", headers: {} }, options || {});
    options.headers = Object.assign({ "X-CSRFToken": csrfToken(), Accept: "application/json" }, options.headers);
    if (options.json !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
      delete options.json;
    }
    var response = await fetch(url, options);
    var body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok && !(options.acceptStatus || []).includes(response.status)) {
      var err = new Error((body && body.message) || t("server.status", { status: response.status }));
      err.status = response.status;
      err.body = body;
      throw err;
    }
    return { status: response.status, body: body };
  }

  // Forms that destroy something ask first (the server-side confirmation page stays the no-JS path).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Escape closes the open disclosure (<details>, such as "Advanced") the keyboard is in, and puts
  // the keyboard back on its summary, as it closes a menu or a dialog.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    var open = event.target.closest && event.target.closest("details[open]");
    if (!open) return;
    open.open = false;
    var summary = open.querySelector("summary");
    if (summary) summary.focus();
    event.preventDefault();
  });

  /* The admin's webcam (enrollment shots, gesture samples): one button opens and closes it.
     ``say(text, kind)`` shows progress; ``hint`` ends the error messages (what to do instead), in
     the console's language like the rest. */
  function camera(video, say, hint) {
    var self = { on: false, stream: null };
    hint = hint || "";

    self.toggle = async function () {
      if (self.stream) {
        self.stream.getTracks().forEach(function (t) { t.stop(); });
        self.stream = null;
        self.on = false;
        video.srcObject = null;
        say(t("camera.off"));
        return false;
      }
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        say(t("camera.insecure") + hint, "bad");
        return false;
      }
      say(t("camera.starting"));
      try {
        self.stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
      } catch (err) {
        say(t("camera.failed", { error: err.name }) + hint, "bad");
        return false;
      }
      video.srcObject = self.stream;
      await video.play().catch(function () {});
      self.on = true;
      return true;
    };

    // The current picture as a JPEG Blob, at most ``maxWidth`` pixels wide.
    self.grab = function (maxWidth, quality) {
      var scale = Math.min(1, maxWidth / video.videoWidth);
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); });
    };
    return self;
  }

  window.Admin = { api: api, csrfToken: csrfToken, camera: camera, t: t, stage: stage, refusal: refusal, number: number, percent: percent,
                   duration: duration };
})();
