// The gate page follows its run: polls status.json until the run reaches a final state and
// writes what it says with textContent only (seller strings are never parsed as HTML).
(function () {
  "use strict";
  var box = document.querySelector("[data-status-url]");
  if (!box || box.getAttribute("data-final") === "yes") { return; }
  var url = box.getAttribute("data-status-url");
  var state = document.getElementById("run-state");
  var text = document.getElementById("progress-text");
  var outputs = document.getElementById("outputs");
  var newer = document.getElementById("newer-gate");
  var newerLink = document.getElementById("newer-gate-link");
  var lastState = state ? state.textContent : "";
  var INTERVAL_MS = 1000;

  function showOutputs(values) {
    while (outputs.firstChild) { outputs.removeChild(outputs.firstChild); }
    Object.keys(values).forEach(function (key) {
      var dt = document.createElement("dt");
      var dd = document.createElement("dd");
      dt.textContent = key;
      dd.textContent = values[key];
      outputs.appendChild(dt);
      outputs.appendChild(dd);
    });
  }

  function show(status) {
    state.textContent = status.run_state;
    state.setAttribute("data-state", status.run_state);
    text.textContent = status.text;
    showOutputs(status.outputs || {});
    if (status.newer_gate) {
      newerLink.textContent = "gate " + status.newer_gate;
      newerLink.setAttribute("href", "/gates/" + encodeURIComponent(status.newer_gate));
      newer.hidden = false;
    }
    // Decided elsewhere (another tab, another reviewer): these forms no longer apply.
    if (lastState === "paused" && status.run_state !== "paused") {
      document.querySelectorAll("form.approve, form.reject").forEach(function (form) {
        form.hidden = true;
      });
    }
    lastState = status.run_state;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (status) {
        show(status);
        // a gate waits for people (slow); a commit is under way (fast)
        var wait = status.run_state === "paused" ? INTERVAL_MS * 3 : INTERVAL_MS;
        if (!status.final) { window.setTimeout(poll, wait); }
      })
      .catch(function () { window.setTimeout(poll, INTERVAL_MS * 5); });
  }

  window.setTimeout(poll, INTERVAL_MS);
}());
