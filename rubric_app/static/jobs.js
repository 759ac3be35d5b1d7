/* Job page (templates/jobs/show.html): while the work goes on, ask the server for the job's state
   every 1.5 s and show the progress (documents done of total, or a percentage); reload the page
   once it is done or failed, so the download link, the import's summary or the reason appears.
   Without this script the page offers a "Check again" link. */
(function () {
  "use strict";
  var box = document.getElementById("job-status");
  if (!box || !box.dataset.jobPoll) return;
  var bar = document.getElementById("job-progress");
  var label = document.getElementById("job-progress-label");
  var format = new Intl.NumberFormat(document.documentElement.lang || undefined);
  var percent = new Intl.NumberFormat(document.documentElement.lang || undefined, {style: "percent"});
  var failures = 0;
  function poll() {
    fetch(box.dataset.jobPoll, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (job) {
        failures = 0;
        if (job.status === "done" || job.status === "failed") {
          window.location.reload();
          return;
        }
        if (job.total > 0) {
          bar.max = job.total;
          bar.value = job.done;
          label.textContent = box.dataset.progressText
            .replace("{done}", format.format(job.done)).replace("{total}", format.format(job.total))
            .replace("{percent}", percent.format(Math.min(job.done / job.total, 1)));
        }
        window.setTimeout(poll, 1500);
      })
      .catch(function () {
        failures += 1;
        if (failures < 20) window.setTimeout(poll, 3000);
      });
  }
  window.setTimeout(poll, 1500);
})();
