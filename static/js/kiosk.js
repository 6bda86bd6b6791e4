/*
 * The kiosk screen: camera -> frames to the server -> state, prompt and overlay on screen.
 *
 * The server owns the check-in state machine (POST /api/v1/kiosk/frames answers with the
 * state to show); this script only sends pixels and draws the answer. Rules it keeps:
 * - frames are pipelined: never more than one request in flight, but the next frame is
 *   captured and encoded while the server works on the current one, and sent the moment the
 *   answer arrives. New camera frames drive this (requestVideoFrameCallback where the browser
 *   has it, else a timer at the camera's frame rate), so the rate is the camera's or the
 *   server's, whichever is slower; never requestAnimationFrame, which a busy or hidden page
 *   throttles. A frame is never queued behind another (a queue would only show a growing delay)
 *   and never sent twice;
 * - each answer says which frame the state needs next (next_frame: width, minimum interval):
 *   a message screen asks for small frames a few times a second;
 * - drawing (overlay, countdown, the hold filling up) runs on requestAnimationFrame so the
 *   video never stutters;
 * - network errors and 5xx back off and say "Reconnecting"; 409 (busy) just waits;
 *   503 warming (the server is loading its models) shows "Starting..." and asks again soon;
 *   503 model_unavailable (a model file is missing) says what the operator must do;
 *   429 rate_limited (over the site's request limit) waits the Retry-After the server gives,
 *   then sends again (the pairing poll too).
 * Plain ES2017, no modules, no OffscreenCanvas, no build step: Chrome, Edge and Safari.
 */
(function () {
  "use strict";

  var JPEG_QUALITY = 0.8;
  var DEFAULT_FRAME_WIDTH = 640; // until the server says otherwise (next_frame.width)
  var CAMERA_FPS_FALLBACK = 15; // the frame timer's rate where requestVideoFrameCallback is missing
  // A prepared frame older than this (1.5 camera frames at 15 frames/s) is captured again on the
  // camera's next frame while the server works: what is sent is never much older than a frame.
  var STALE_FRAME_MS = 100;
  var BUSY_WAIT_MS = 200;
  var BACKOFF_FIRST_MS = 500;
  var BACKOFF_MAX_MS = 8000;
  var ANSWER_LOG_SIZE = 5000;

  // MediaPipe pose landmark indices drawn as the arm skeleton.
  var NOSE = 0;
  var SKELETON = [
    [11, 12], // shoulders
    [11, 13], [13, 15], // left arm
    [12, 14], [14, 16], // right arm
    [11, 23], [12, 24], [23, 24] // torso
  ];
  var MIN_LANDMARK_VISIBILITY = 0.5;

  // Step indicator and the state as words: colour is never the only signal.
  // Labels are looked up in the kiosk's language (state.NAME in TEXT).
  var STATES = {
    STARTING: { step: null },
    UNPAIRED: { step: null },
    IDLE: { step: "look" },
    IDENTIFYING: { step: "look" },
    CONFIRMING: { step: "confirm" },
    SMILING: { step: "smile" },
    DONE: { step: "done" },
    UNKNOWN: { step: "look" },
    CANCELLED: { step: "confirm" },
    CAMERA_ERROR: { step: null }
  };
  var STEP_ORDER = ["look", "confirm", "smile", "done"];

  var body = document.body;
  // Every word the script writes, in the kiosk's language (kiosk/web/kiosk_text.py), and the
  // language for numbers and times.
  var TEXT = JSON.parse(body.getAttribute("data-text") || "{}");
  var LANGUAGE = document.documentElement.lang || "en";
  function t(key, values) { // the text of key, its %(name)s filled from values
    var text = Object.prototype.hasOwnProperty.call(TEXT, key) ? TEXT[key] : key;
    return text.replace(/%\((\w+)\)s/g, function (whole, name) {
      return values && Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }
  var numberFormats = {};
  function formatNumber(value, options) {
    var key = JSON.stringify(options || {});
    if (!numberFormats[key]) numberFormats[key] = new Intl.NumberFormat(LANGUAGE, options);
    return numberFormats[key].format(value);
  }
  function seconds(value, digits) {
    return formatNumber(value, { style: "unit", unit: "second", unitDisplay: "narrow",
                                 minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  // The server's wall-clock "HH:MM" (the site's time zone) as this language writes a time.
  function clockTime(text) {
    var parts = /^(\d{1,2}):(\d{2})$/.exec(text || "");
    if (!parts) return text;
    var moment = new Date(2000, 0, 1, Number(parts[1]), Number(parts[2]));
    return new Intl.DateTimeFormat(LANGUAGE, { timeStyle: "short" }).format(moment);
  }
  var video = document.getElementById("camera");
  var overlay = document.getElementById("overlay");
  var overlayContext = overlay.getContext("2d");
  // The frame sent to the server is drawn here first; it is never attached to the page.
  var frameCanvas = document.createElement("canvas");
  var frameContext = frameCanvas.getContext("2d");

  var ui = {
    prompt: document.getElementById("prompt"),
    stateLabel: document.getElementById("state-label"),
    steps: document.querySelectorAll("#steps li"),
    person: document.getElementById("person"),
    personPhoto: document.getElementById("person-photo"),
    personGreeting: document.getElementById("person-greeting"),
    personName: document.getElementById("person-name"),
    personDetail: document.getElementById("person-detail"),
    cameraError: document.getElementById("camera-error"),
    cameraErrorDetail: document.getElementById("camera-error-detail"),
    gesture: document.getElementById("gesture"),
    gestureLabel: document.getElementById("gesture-label"),
    holdRing: document.getElementById("hold-ring"),
    holdArc: document.getElementById("hold-arc"),
    gestureText: document.getElementById("gesture-text"),
    happy: document.getElementById("happy"),
    happyMeter: document.getElementById("happy-meter"),
    happyText: document.getElementById("happy-text"),
    countdown: document.getElementById("countdown"),
    countdownProgress: document.getElementById("countdown-progress"),
    countdownText: document.getElementById("countdown-text"),
    connection: document.getElementById("connection"),
    pairing: document.getElementById("pairing"),
    pairingCode: document.getElementById("pairing-code"),
    pairingNote: document.getElementById("pairing-note"),
    rail: document.getElementById("rail"),
    touchButtons: document.querySelectorAll("#touch [data-answer]")
  };

  var urls = {
    frames: body.getAttribute("data-frames-url"),
    state: body.getAttribute("data-state-url"),
    reset: body.getAttribute("data-reset-url"),
    pairing: body.getAttribute("data-pairing-url"),
    answer: body.getAttribute("data-answer-url")
  };
  // The gestures' names and words on screen, from the server's one vocabulary (kiosk/gesture_vocabulary.py).
  var gestures = JSON.parse(body.getAttribute("data-gestures") || '{"words": {}}');
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : null;

  var loop = {
    streaming: false,
    inFlight: false,
    preparing: false, // a frame is being captured and encoded
    prepared: null, // {blob, width, cameraFrame, capturedAt}: the next frame, ready to send
    cameraFrame: 0, // counts the camera's new frames
    capturedFrame: -1, // the camera frame captured last (never captured or sent twice)
    nextSendAt: 0, // no frame before this (back-off, busy, the state's minimum interval)
    lastSentAt: 0,
    frameWidth: DEFAULT_FRAME_WIDTH,
    minIntervalMs: 0,
    failures: 0,
    lastAnswer: null,
    answerReceivedAt: 0,
    countdownStart: null, // {state, seconds}: the countdown bar's full length for this step
    hold: null, // {progress, remaining, total, at}: the hold being filled, as of the last answer
    overlayDirty: true,
    paused: false,
    unpaired: false // no frames until an administrator approves this kiosk's pairing code
  };

  // Exposed for the browser tests and for an operator's console; read-only in spirit.
  // Exposed for the browser tests and for an operator's console (which already controls
  // this browser): counters, the states shown so far, and a pause for a still screenshot.
  // answerLog: one entry per answered frame ({at, sentAt, capturedAt, state, serverMs, roundTripMs,
  // width, gesture}), times from performance.now(); what the browser benchmark measures.
  window.kiosk = {
    stats: { framesSent: 0, answers: 0, busy: 0, errors: 0, warming: 0, rateLimited: 0, maxInFlight: 0, inFlight: 0,
             encodes: 0, lastStatus: null },
    stateHistory: [],
    answerLog: [],
    loop: loop,
    lastAnswer: function () { return loop.lastAnswer; },
    pause: function () { loop.paused = true; },
    resume: function () { loop.paused = false; loop.nextSendAt = 0; pump(); }
  };

  function requestHeaders(extra) {
    var headers = { "Accept": "application/json" };
    if (csrfToken) headers["X-CSRFToken"] = csrfToken;
    if (extra) {
      for (var key in extra) {
        if (Object.prototype.hasOwnProperty.call(extra, key)) headers[key] = extra[key];
      }
    }
    return headers;
  }

  /* ---------- camera ---------- */

  function cameraProblem(err) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return { title: t("camera.blocked"), detail: t("camera.blocked.detail") };
    }
    if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") {
      return { title: t("camera.missing"), detail: t("camera.missing.detail") };
    }
    if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
      return { title: t("camera.busy"), detail: t("camera.busy.detail") };
    }
    return { title: t("camera.failed"), detail: t("camera.failed.detail") + (name ? " (" + name + ")" : "") };
  }

  function showCameraError(problem) {
    loop.streaming = false;
    ui.cameraErrorDetail.textContent = problem.detail;
    ui.cameraError.hidden = false;
    setState("CAMERA_ERROR");
    setPrompt(problem.title); // the big line; the alert box below it says what to do
    body.setAttribute("data-camera-error", problem.code || "error");
  }

  function startCamera() {
    if (!window.isSecureContext) {
      showCameraError({
        code: "insecure",
        title: t("camera.insecure"),
        detail: t("camera.insecure.detail")
      });
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showCameraError({
        code: "unsupported",
        title: t("camera.unsupported"),
        detail: t("camera.unsupported.detail")
      });
      return;
    }
    if (!loop.unpaired) setPrompt(t("camera.starting"));
    navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { width: 640, height: 480, facingMode: "user" }
    }).then(function (stream) {
      video.srcObject = stream;
      stream.getVideoTracks().forEach(function (track) {
        track.addEventListener("ended", function () {
          showCameraError({
            code: "ended",
            title: t("camera.ended"),
            detail: t("camera.ended.detail")
          });
        });
      });
      // autoplay + muted is allowed everywhere, but Safari sometimes needs the explicit call.
      var playing = video.play();
      if (playing && playing.catch) playing.catch(function () { /* autoplay takes over */ });
      ui.cameraError.hidden = true;
      body.removeAttribute("data-camera-error");
      loop.streaming = true;
      // The camera runs; the first answer says what to show ("Starting..." while the server warms up).
      // An unpaired kiosk keeps showing its pairing code.
      if (!loop.unpaired) setPrompt(t("starting"));
      watchCamera();
    }).catch(function (err) {
      var problem = cameraProblem(err);
      problem.code = (err && err.name) || "error";
      showCameraError(problem);
    });
  }

  /* ---------- sending frames ---------- */

  function clamp(value, low, high) {
    return Math.max(low, Math.min(high, value));
  }

  function frameSize(width) {
    var videoWidth = video.videoWidth;
    var videoHeight = video.videoHeight;
    var scale = Math.min(1, width / Math.max(videoWidth, videoHeight));
    return [Math.round(videoWidth * scale), Math.round(videoHeight * scale)];
  }

  // canvas.toBlob everywhere current; toDataURL for the odd engine without it.
  function canvasToJpeg(canvas, quality) {
    return new Promise(function (resolve, reject) {
      if (canvas.toBlob) {
        canvas.toBlob(function (blob) {
          if (blob) resolve(blob); else reject(new Error("toBlob gave nothing"));
        }, "image/jpeg", quality);
        return;
      }
      var dataUrl = canvas.toDataURL("image/jpeg", quality);
      var binary = atob(dataUrl.split(",")[1]);
      var bytes = new Uint8Array(binary.length);
      for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      resolve(new Blob([bytes], { type: "image/jpeg" }));
    });
  }

  function canSend() {
    return loop.streaming && !loop.paused && !loop.unpaired && !document.hidden && video.readyState >= 2 && video.videoWidth > 0;
  }

  // The camera has a new frame (or the frame timer ticked): prepare and send what can be.
  function onCameraFrame() {
    loop.cameraFrame += 1;
    pump();
  }

  // The one place that decides: capture the newest camera frame when the next one is needed
  // (or the prepared one went stale while the server was busy), send it when nothing is in flight.
  function pump() {
    if (!canSend()) return;
    var now = performance.now();
    var prepared = loop.prepared;
    if (prepared && prepared.width !== loop.frameWidth) prepared = loop.prepared = null; // the state wants another size
    var fresh = loop.capturedFrame !== loop.cameraFrame;
    var stale = prepared && now - prepared.capturedAt > STALE_FRAME_MS;
    if (!loop.preparing && fresh && (!prepared || stale) && now >= loop.nextSendAt - STALE_FRAME_MS) {
      prepareFrame();
      return; // pump() runs again when the frame is encoded
    }
    if (prepared && !loop.inFlight && now >= loop.nextSendAt) {
      loop.prepared = null;
      sendFrame(prepared);
    }
  }

  function prepareFrame() {
    var size = frameSize(loop.frameWidth);
    if (!size[0] || !size[1]) return;
    if (frameCanvas.width !== size[0] || frameCanvas.height !== size[1]) {
      frameCanvas.width = size[0];
      frameCanvas.height = size[1];
    }
    // The frame is sent as the camera sees it (not mirrored): the mirror is display only.
    frameContext.drawImage(video, 0, 0, size[0], size[1]);
    loop.preparing = true;
    loop.capturedFrame = loop.cameraFrame;
    var frame = { blob: null, width: loop.frameWidth, cameraFrame: loop.cameraFrame, capturedAt: performance.now() };
    canvasToJpeg(frameCanvas, JPEG_QUALITY).then(function (blob) {
      window.kiosk.stats.encodes += 1;
      frame.blob = blob;
      loop.prepared = frame;
    }, function (err) {
      if (window.console) window.console.error(err);
    }).then(function () {
      loop.preparing = false;
      pump();
    });
  }

  function sendFrame(frame) {
    loop.inFlight = true;
    var stats = window.kiosk.stats;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    stats.framesSent += 1;
    var sentAt = performance.now();
    loop.lastSentAt = sentAt;

    fetch(urls.frames, {
      method: "POST",
      body: frame.blob,
      headers: requestHeaders({ "Content-Type": "image/jpeg" }),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      stats.lastStatus = response.status;
      return response.json().catch(function () { return null; }).then(function (payload) {
        return { status: response.status, payload: payload };
      });
    }, function () {
      // Only the request itself failing is a network problem; a bug in drawing the
      // answer is not, and goes to the console below instead of "Reconnecting".
      stats.lastStatus = "network";
      return { status: "network", payload: null };
    }).then(function (result) {
      // The next frame may go as soon as the answer is here: free the slot before drawing it.
      stats.inFlight -= 1;
      loop.inFlight = false;
      if (result.status === "network") onFailure("network");
      else handleResponse(result.status, result.payload, frame, sentAt);
    }).catch(function (err) {
      if (window.console) window.console.error(err);
    }).then(pump);
  }

  function logAnswer(answer, frame, sentAt, now) {
    var log = window.kiosk.answerLog;
    log.push({
      at: now, sentAt: sentAt, capturedAt: frame.capturedAt, state: answer.state, serverMs: answer.server_ms,
      roundTripMs: now - sentAt, width: frame.width, gesture: answer.gesture ? answer.gesture.name : null
    });
    if (log.length > ANSWER_LOG_SIZE) log.splice(0, log.length - ANSWER_LOG_SIZE);
  }

  function handleResponse(status, payload, frame, sentAt) {
    var stats = window.kiosk.stats;
    var now = performance.now();
    if (status === 200 && payload && payload.state) {
      stats.answers += 1;
      logAnswer(payload, frame, sentAt, now);
      var wanted = payload.next_frame || {};
      loop.frameWidth = wanted.width || DEFAULT_FRAME_WIDTH;
      loop.minIntervalMs = wanted.min_interval_ms || 0;
      loop.nextSendAt = sentAt + loop.minIntervalMs;
      if (loop.failures) {
        loop.failures = 0;
        ui.connection.hidden = true;
      }
      showAnswer(payload);
      return;
    }
    if (status === 409) {
      // The server is still working on an earlier frame of this session: wait a turn.
      stats.busy += 1;
      loop.nextSendAt = now + BUSY_WAIT_MS;
      return;
    }
    if (status === 400 && payload && payload.error === "bad_image") {
      // One unreadable frame (e.g. the camera was still warming up): skip it.
      return;
    }
    if (status === 503 && payload && payload.error === "warming") {
      // The server is loading its models: not a failure, nothing to tell the person but "Starting".
      stats.warming += 1;
      loop.nextSendAt = now + 1000 * clamp(payload.retry_after_s || 0.5, 0.1, 5);
      showStarting();
      return;
    }
    if (status === 401 && payload && payload.error === "kiosk_not_paired") {
      // Not paired, or revoked this moment: show a pairing code until an administrator approves it.
      enterPairing();
      return;
    }
    if (status === 401 || status === 403) {
      // Device tokens travel in an HttpOnly cookie (set when the pairing is approved, or by the
      // kiosk link /?token=...; kiosk/web/device_link.py): the page never handles the secret itself.
      stats.errors += 1;
      loop.nextSendAt = now + BACKOFF_MAX_MS;
      showConnectionProblem((payload && payload.message) || t("not_authorised"));
      return;
    }
    if (status === 503 && payload && payload.error === "model_unavailable") {
      // Retrying cannot fix a missing model file: an operator must. The server's message names
      // the file and the fix; keep asking, slowly, so the kiosk comes back once it is restored.
      stats.errors += 1;
      loop.failures += 1;
      loop.nextSendAt = now + BACKOFF_MAX_MS;
      // The sentence is in the kiosk's language; the server's own words (which file, which fix)
      // follow for the operator.
      var forOperator = payload.detail ? payload.message + " " + payload.detail : payload.message;
      showConnectionProblem(t("out_of_service", { message: forOperator }));
      return;
    }
    if (status === 429) {
      // Over the site's request limit (nginx's answers have no JSON: back off as from a failure).
      var waitS = payload && payload.retry_after;
      if (!waitS) {
        onFailure("server", payload);
        return;
      }
      stats.rateLimited += 1;
      loop.failures += 1; // the next answer hides the notice again
      loop.nextSendAt = now + 1000 * clamp(waitS, 1, 120);
      showConnectionProblem(t("rate_limited", { seconds: waitS }));
      return;
    }
    onFailure(status >= 500 ? "server" : "client", payload);
  }

  function onFailure(kind, payload) {
    var stats = window.kiosk.stats;
    stats.errors += 1;
    loop.failures += 1;
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * Math.pow(2, loop.failures - 1));
    loop.nextSendAt = performance.now() + delay;
    if (kind === "client") {
      showConnectionProblem((payload && payload.message) || t("refused_picture"));
    } else {
      showConnectionProblem(t("reconnecting"));
    }
  }

  function showConnectionProblem(text) {
    ui.connection.textContent = text;
    ui.connection.hidden = false;
  }

  function showStarting() {
    setState("STARTING");
    setPrompt(t("starting"));
  }

  /* ---------- showing the server's answer ---------- */

  function setPrompt(text) {
    // Only touch the live region when the words change, or screen readers repeat them.
    if (ui.prompt.textContent !== text) ui.prompt.textContent = text;
  }

  function setState(state) {
    var info = STATES[state] || { step: null };
    info = { step: info.step, label: STATES[state] ? t("state." + state) : state };
    if (body.getAttribute("data-state") !== state) {
      body.setAttribute("data-state", state);
      var history = window.kiosk.stateHistory;
      history.push(state);
      if (history.length > 100) history.shift();
    }
    if (ui.stateLabel.textContent !== info.label) ui.stateLabel.textContent = info.label;
    var activeIndex = STEP_ORDER.indexOf(info.step);
    for (var i = 0; i < ui.steps.length; i++) {
      var item = ui.steps[i];
      var index = STEP_ORDER.indexOf(item.getAttribute("data-step"));
      item.classList.toggle("step-done", activeIndex >= 0 && index < activeIndex);
      item.classList.toggle("step-active", index === activeIndex);
      if (index === activeIndex) item.setAttribute("aria-current", "step");
      else item.removeAttribute("aria-current");
    }
  }

  function showAnswer(answer) {
    var previous = loop.lastAnswer;
    loop.lastAnswer = answer;
    loop.answerReceivedAt = performance.now();
    loop.overlayDirty = true;

    setState(answer.state);
    setPrompt(answer.prompt || "");
    body.setAttribute("data-hint", answer.hint || "");
    showPerson(answer);
    placeRail(answer);
    showGesture(answer);
    showHappy(answer);

    if (typeof answer.countdown === "number") {
      var sameStep = previous && previous.state === answer.state && loop.countdownStart;
      if (!sameStep || answer.countdown > loop.countdownStart) loop.countdownStart = answer.countdown;
    } else {
      loop.countdownStart = null;
    }
    updateCountdown();
  }

  function showPerson(answer) {
    var name = answer.person && answer.person.name;
    if (!name || answer.state === "CANCELLED") {
      ui.person.hidden = true;
      ui.personPhoto.hidden = true;
      return;
    }
    ui.person.hidden = false;
    if (ui.personName.textContent !== name) ui.personName.textContent = name;
    var greeting = "";
    var detail = "";
    if (answer.state === "DONE") {
      var leaving = answer.event_kind === "check_out";
      greeting = leaving ? t("card.goodbye") : t("card.welcome");
      var at = answer.checked_in_at ? { time: clockTime(answer.checked_in_at) } : null;
      if (answer.duplicate) {
        // The prompt already says "you have already checked in": the card only adds since when.
        detail = at ? t("card.since", at) : "";
      } else if (leaving && at && typeof answer.worked_today_s === "number") {
        var minutes = Math.floor(Math.max(0, answer.worked_today_s) / 60);
        detail = t("card.checked_out_worked", { time: at.time, hours: formatNumber(Math.floor(minutes / 60)),
                                                minutes: formatNumber(minutes % 60) });
      } else if (leaving) {
        detail = at ? t("card.checked_out_at", at) : t("card.checked_out");
      } else {
        detail = at ? t("card.checked_in_at", at) : t("card.checked_in");
      }
    } else if (answer.state === "CONFIRMING") {
      greeting = t("card.are_you");
    }
    ui.personGreeting.textContent = greeting;
    ui.personDetail.textContent = detail;

    if (answer.state === "DONE" && answer.photo_url) {
      if (ui.personPhoto.getAttribute("src") !== answer.photo_url) {
        ui.personPhoto.setAttribute("src", answer.photo_url);
      }
      ui.personPhoto.setAttribute("alt", t("card.photo_alt", { name: name }));
      ui.personPhoto.hidden = false;
    } else {
      ui.personPhoto.hidden = true;
    }
  }

  // Where the served face is on screen (CSS pixels, the mirror applied), or null.
  function faceRect(answer) {
    var box = answer && answer.face && answer.face.box;
    var size = answer && answer.frame_size;
    if (!box || !size || !size[0] || !size[1]) return null;
    var width = overlay.clientWidth;
    var map = coverTransform(width, overlay.clientHeight);
    return {
      left: width - map.x((box[0] + box[2]) / size[0]),
      right: width - map.x(box[0] / size[0]),
      top: map.y(box[1] / size[1]),
      bottom: map.y((box[1] + box[3]) / size[1])
    };
  }
  window.kiosk.faceRect = function () { return faceRect(loop.lastAnswer); };

  // The rail (the card, the touch answers, the gestures taught) goes on the side of the screen
  // away from the face (kiosk.css lays it out by data-face-side).
  // A close face leaves less room beside it: the rail narrows to that room (down to a floor
  // that keeps its words readable), in landscape; in portrait it sits under the face.
  var RAIL_SHARE_MAX = 0.4;
  var RAIL_SHARE_MIN = 0.26;
  var RAIL_GAP_PX = 12;
  function placeRail(answer) {
    var face = faceRect(answer);
    if (!face) return; // no face in this answer: the rail stays where it was
    var width = overlay.clientWidth;
    var side = (face.left + face.right) / 2 > width / 2 ? "right" : "left";
    if (body.getAttribute("data-face-side") !== side) body.setAttribute("data-face-side", side);
    var room = (side === "right" ? face.left : width - face.right) - RAIL_GAP_PX;
    var rail = clamp(room, RAIL_SHARE_MIN * width, RAIL_SHARE_MAX * width);
    // CSSOM, not a style attribute: the page runs under style-src 'self'.
    body.style.setProperty("--rail-width", Math.floor(rail) + "px");
    // Still no room (a face very close, on a portrait screen): the pictograms give way to the
    // card, which then sits lower, off the face; the prompt still says which gesture answers.
    body.removeAttribute("data-crowded");
    if (!ui.person.hidden && overlaps(ui.person.getBoundingClientRect(), face)) body.setAttribute("data-crowded", "");
  }

  function overlaps(a, b) {
    return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  }

  /* ---------- touch answers (KIOSK_TOUCH_CONFIRM) ---------- */

  function answerByTouch(event) {
    var button = event.currentTarget;
    for (var i = 0; i < ui.touchButtons.length; i++) ui.touchButtons[i].disabled = true;
    fetch(urls.answer, {
      method: "POST",
      body: JSON.stringify({ answer: button.getAttribute("data-answer") }),
      headers: requestHeaders({ "Content-Type": "application/json" }),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response.json().catch(function () { return null; }).then(function (payload) {
        if (response.ok && payload && payload.state) showAnswer(payload);
        else showConnectionProblem((payload && payload.message) || t("answer_lost"));
      });
    }, function () {
      showConnectionProblem(t("reconnecting"));
    }).then(function () {
      for (var j = 0; j < ui.touchButtons.length; j++) ui.touchButtons[j].disabled = false;
    });
  }
  for (var b = 0; b < ui.touchButtons.length; b++) ui.touchButtons[b].addEventListener("click", answerByTouch);

  function gestureName(name) {
    return gestures.words[name] || name;
  }

  // The hold the person is in the middle of (a gesture, or a smile), filling up: the ring and
  // its seconds left come from the answer and run on locally until the next one.
  function showGesture(answer) {
    var hold = answer.hold;
    var gesture = answer.gesture;
    var capturing = hold && hold.kind === "gesture" && hold.name === gestures.capture;
    // CONFIRMING always shows the row (the person needs to know a gesture is expected);
    // SMILING while a smile or the capture gesture is being held.
    var showRow = answer.state === "CONFIRMING" || (answer.state === "SMILING" && (capturing ||
      (hold && hold.kind === "smile")));
    ui.gesture.hidden = !showRow;
    loop.hold = showRow && hold ? { progress: hold.progress || 0, remaining: hold.remaining_s || 0,
                                    total: hold.hold_s || 0, at: performance.now() } : null;
    if (!showRow) return;
    var label;
    if (!hold) {
      label = gesture && gesture.name !== gestures.idle && gesture.name ?
        t("gesture.seen", { gesture: gestureName(gesture.name) }) : gestures.prompt;
    } else if (hold.kind === "smile" && hold.name === "liveness") {
      // The photo is taken; the ring fills as the face goes from neutral to a smile (liveness).
      label = t("smile.now");
    } else if (hold.kind === "smile") {
      label = t("smile.keep");
    } else {
      label = t("gesture.keep", { gesture: gestureName(hold.name) });
    }
    if (ui.gestureLabel.textContent !== label) ui.gestureLabel.textContent = label;
    updateHold();
  }

  function updateHold() {
    var hold = loop.hold;
    var progress = 0;
    var text = "";
    if (hold) {
      // Run on between answers, but never more than a quarter second past the last one: a hold
      // the server has not seen for that long may have broken.
      var elapsed = Math.min(0.25, (performance.now() - hold.at) / 1000);
      var remaining = Math.max(0, hold.remaining - elapsed);
      progress = hold.total > 0 ? clamp(hold.progress + elapsed / hold.total, 0, 1) : hold.progress;
      // Only the number fits in the ring; the words beside it and its aria text say "seconds".
      text = formatNumber(remaining, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    }
    var percent = Math.round(progress * 100);
    if (ui.holdRing.getAttribute("aria-valuenow") !== String(percent)) {
      ui.holdRing.setAttribute("aria-valuenow", String(percent));
      ui.holdRing.setAttribute("aria-valuetext", hold ? t("hold.left", { time: seconds(remaining, 1) }) :
        t("hold.none"));
      // CSSOM, not a style attribute: the page runs under style-src 'self'.
      ui.holdArc.style.strokeDashoffset = String(100 - percent);
    }
    if (ui.gestureText.textContent !== text) ui.gestureText.textContent = text;
  }

  function showHappy(answer) {
    if (answer.state !== "SMILING" || typeof answer.happy !== "number") {
      ui.happy.hidden = true;
      return;
    }
    var happy = clamp(answer.happy, 0, 1);
    ui.happy.hidden = false;
    ui.happyMeter.value = happy;
    ui.happyText.textContent = formatNumber(happy, { style: "percent", maximumFractionDigits: 0 });
  }

  // The server's countdown is as old as its answer: count down locally between answers.
  function updateCountdown() {
    var answer = loop.lastAnswer;
    if (!answer || typeof answer.countdown !== "number" || !loop.countdownStart) {
      ui.countdown.hidden = true;
      return;
    }
    var elapsed = (performance.now() - loop.answerReceivedAt) / 1000;
    var left = Math.max(0, answer.countdown - elapsed);
    ui.countdown.hidden = false;
    ui.countdownProgress.max = loop.countdownStart;
    ui.countdownProgress.value = left;
    var text = seconds(Math.ceil(left), 0);
    if (ui.countdownText.textContent !== text) ui.countdownText.textContent = text;
  }

  /* ---------- overlay ---------- */

  // Where the analysed frame lands on screen: the video is shown with object-fit: cover,
  // so it is scaled to fill the stage, placed by object-position, its overflow cropped. The frame the
  // server saw has the video's aspect ratio, so normalised frame coordinates map onto the
  // displayed video. The mirror for the selfie view is a CSS transform shared by the video
  // and this canvas, so nothing here flips x.
  // object-position as fractions (CSS percentages); the default is centred.
  function objectPosition() {
    var parts = (window.getComputedStyle(video).objectPosition || "").split(/\s+/);
    function fraction(part) {
      return /%$/.test(part || "") ? parseFloat(part) / 100 : 0.5;
    }
    return [fraction(parts[0]), fraction(parts[1])];
  }

  function coverTransform(stageWidth, stageHeight) {
    var videoWidth = video.videoWidth || 640;
    var videoHeight = video.videoHeight || 480;
    var scale = Math.max(stageWidth / videoWidth, stageHeight / videoHeight);
    var shownWidth = videoWidth * scale;
    var shownHeight = videoHeight * scale;
    var position = objectPosition();
    var left = (stageWidth - shownWidth) * position[0];
    var top = (stageHeight - shownHeight) * position[1];
    return {
      x: function (normalised) { return left + normalised * shownWidth; },
      y: function (normalised) { return top + normalised * shownHeight; }
    };
  }

  function resizeOverlay() {
    var ratio = window.devicePixelRatio || 1;
    var width = overlay.clientWidth;
    var height = overlay.clientHeight;
    var pixelWidth = Math.round(width * ratio);
    var pixelHeight = Math.round(height * ratio);
    if (overlay.width !== pixelWidth || overlay.height !== pixelHeight) {
      overlay.width = pixelWidth;
      overlay.height = pixelHeight;
      loop.overlayDirty = true;
    }
    overlayContext.setTransform(ratio, 0, 0, ratio, 0, 0);
    return [width, height];
  }

  function stateColour(state) {
    if (state === "UNKNOWN" || state === "CANCELLED") return "#ff5c5c";
    if (state === "DONE") return "#4cd97b";
    if (state === "CONFIRMING" || state === "SMILING") return "#ffd23f";
    return "#5cc8ff";
  }

  function drawBox(map, box, frameWidth, frameHeight, colour, lineWidth) {
    var left = map.x(box[0] / frameWidth);
    var top = map.y(box[1] / frameHeight);
    var right = map.x((box[0] + box[2]) / frameWidth);
    var bottom = map.y((box[1] + box[3]) / frameHeight);
    overlayContext.strokeStyle = colour;
    overlayContext.lineWidth = lineWidth;
    overlayContext.strokeRect(left, top, right - left, bottom - top);
  }

  function drawSkeleton(map, pose, colour) {
    function visible(index) {
      var point = pose[index];
      return point && (point.length < 3 || point[2] >= MIN_LANDMARK_VISIBILITY);
    }
    overlayContext.strokeStyle = colour;
    overlayContext.lineWidth = 6;
    overlayContext.lineCap = "round";
    overlayContext.beginPath();
    SKELETON.forEach(function (bone) {
      if (!visible(bone[0]) || !visible(bone[1])) return;
      overlayContext.moveTo(map.x(pose[bone[0]][0]), map.y(pose[bone[0]][1]));
      overlayContext.lineTo(map.x(pose[bone[1]][0]), map.y(pose[bone[1]][1]));
    });
    overlayContext.stroke();
    overlayContext.fillStyle = colour;
    [NOSE, 11, 12, 13, 14, 15, 16].forEach(function (index) {
      if (!visible(index)) return;
      overlayContext.beginPath();
      overlayContext.arc(map.x(pose[index][0]), map.y(pose[index][1]), index === NOSE ? 7 : 9, 0, 2 * Math.PI);
      overlayContext.fill();
    });
  }

  function drawOverlay() {
    var size = resizeOverlay();
    if (!loop.overlayDirty) return;
    loop.overlayDirty = false;
    overlayContext.clearRect(0, 0, size[0], size[1]);
    var answer = loop.lastAnswer;
    if (!answer || !loop.streaming || !answer.frame_size) return;
    var frameWidth = answer.frame_size[0];
    var frameHeight = answer.frame_size[1];
    if (!frameWidth || !frameHeight) return;
    var map = coverTransform(size[0], size[1]);
    var colour = stateColour(answer.state);
    var served = answer.face && answer.face.box;
    (answer.faces || []).forEach(function (face) {
      if (!face.box) return;
      var isServed = served && face.box.join(",") === served.join(",");
      if (!isServed) drawBox(map, face.box, frameWidth, frameHeight, "rgba(255,255,255,0.7)", 3);
    });
    if (served) drawBox(map, served, frameWidth, frameHeight, colour, 6);
    if (answer.pose && answer.pose.length >= 25) drawSkeleton(map, answer.pose, colour);
  }

  /* ---------- the loop ---------- */

  // Drawing only: the overlay, the countdown and the hold ring. Frames are not sent from here.
  function draw() {
    window.requestAnimationFrame(draw);
    drawOverlay();
    updateCountdown();
    updateHold();
  }

  // New camera frames drive capturing and sending.
  function watchCamera() {
    if (typeof video.requestVideoFrameCallback === "function") {
      var onFrame = function () {
        video.requestVideoFrameCallback(onFrame);
        onCameraFrame();
      };
      video.requestVideoFrameCallback(onFrame);
      window.kiosk.frameClock = "requestVideoFrameCallback";
      return;
    }
    var track = video.srcObject && video.srcObject.getVideoTracks && video.srcObject.getVideoTracks()[0];
    var settings = track && track.getSettings ? track.getSettings() : {};
    var fps = clamp(settings.frameRate || CAMERA_FPS_FALLBACK, 1, 60);
    window.setInterval(onCameraFrame, 1000 / fps);
    window.kiosk.frameClock = "timer " + fps + " fps";
  }

  function resetSession() {
    // A fresh session on every load, so a reload never resumes someone else's check-in.
    return fetch(urls.reset, {
      method: "POST",
      headers: requestHeaders(),
      credentials: "same-origin",
      cache: "no-store"
    }).then(function (response) {
      return response.json().then(function (payload) {
        if (response.status === 401 && payload && payload.error === "kiosk_not_paired") enterPairing();
        else if (response.ok && payload && payload.state) showAnswer(payload);
      }, function () { return null; });
    }).catch(function () { return null; });
  }

  /* ---------- pairing (kiosk/web/api/kiosk_pairing.py) ---------- */

  // The pairing secret and, once approved, the device token travel in HttpOnly cookies: the page
  // only shows the code and polls until the server says "paired".
  var pairing = { timer: null };
  window.kiosk.pairing = pairing;

  function enterPairing() {
    if (loop.unpaired) return;
    loop.unpaired = true;
    loop.prepared = null;
    loop.lastAnswer = null;
    loop.overlayDirty = true;
    setState("UNPAIRED");
    setPrompt(t("pairing.ask"));
    ui.connection.hidden = true;
    ui.pairing.hidden = false;
    askPairing("POST", 0);
  }

  function askPairing(method, delayMs) {
    window.clearTimeout(pairing.timer);
    pairing.timer = window.setTimeout(function () {
      fetch(urls.pairing, { method: method, headers: requestHeaders(), credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          return response.json().catch(function () { return null; }).then(function (payload) {
            onPairingAnswer(method, response.status, payload);
          });
        }, function () { askPairing(method, BACKOFF_MAX_MS); });
    }, delayMs);
  }

  function onPairingAnswer(method, status, payload) {
    var answer = payload && payload.status;
    if (status === 200 && answer === "paired") {
      leavePairing(payload);
    } else if (status === 200 && answer === "pending") {
      pairing.code = payload.code;
      ui.pairingCode.textContent = payload.code;
      ui.pairingNote.textContent = t("pairing.how");
      askPairing("GET", payload.poll_after_ms || 2000);
    } else if (status === 200 && answer === "expired") {
      askPairing("POST", 0); // a new code
    } else if (status === 429 && payload && payload.retry_after) {
      askPairing(method, 1000 * Math.min(payload.retry_after, 120));
    } else {
      ui.pairingNote.textContent = (payload && payload.message) || t("pairing.unreachable");
      askPairing(method, BACKOFF_MAX_MS);
    }
  }

  function leavePairing(payload) {
    window.clearTimeout(pairing.timer);
    pairing.paired = payload.name;
    ui.pairing.hidden = true;
    loop.unpaired = false;
    loop.failures = 0;
    loop.nextSendAt = 0;
    setState("STARTING");
    setPrompt(t("pairing.done", { name: payload.name }));
    resetSession().then(function () { pump(); });
  }

  window.addEventListener("resize", function () { loop.overlayDirty = true; });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      loop.nextSendAt = 0;
      pump();
    }
  });

  setState("STARTING");
  resetSession().then(function () {
    startCamera();
    window.requestAnimationFrame(draw);
  });
})();
