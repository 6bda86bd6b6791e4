/* Admin console helpers shared by every page: CSRF-aware fetch and confirmation prompts.
   Pages work without JavaScript; these scripts only make them nicer. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
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
      var err = new Error((body && body.message) || ("The server answered " + response.status + "."));
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

  window.Admin = { api: api, csrfToken: csrfToken };
})();
