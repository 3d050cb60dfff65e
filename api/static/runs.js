// Billing run progress: polls the run's JSON (/api/v1/billing-runs/{id}) while it is running and
// updates the <progress> element and the figures. Without JavaScript, reloading the page does the same.
(function () {
  "use strict";
  var blocks = document.querySelectorAll("[data-run-progress]");
  Array.prototype.forEach.call(blocks, function (block) {
    var url = block.getAttribute("data-run-progress");
    var bar = block.querySelector("progress");
    var text = block.querySelector("[data-run-text]");
    var state = block.querySelector("[data-run-status]");
    var template = block.getAttribute("data-template") || "{done} / {total}";
    function update(run) {
      if (bar) { bar.max = Math.max(run.total, 1); bar.value = run.done; }
      if (text) {
        text.textContent = template.replace("{done}", run.done).replace("{total}", run.total).replace("{failed}", run.failed);
      }
      if (state) {
        state.textContent = block.getAttribute("data-status-" + run.status) || run.status;
        state.className = "badge status-" + run.status;
      }
      return run.status === "running";
    }
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (run) { if (update(run)) { setTimeout(poll, 1000); } else { block.setAttribute("data-done", "true"); } })
        .catch(function () { setTimeout(poll, 5000); });
    }
    if (block.getAttribute("data-running") === "true") { poll(); }
  });
})();
