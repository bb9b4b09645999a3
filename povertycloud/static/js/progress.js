// Import and report progress: while a job is queued or running, ask its progress endpoint every two seconds.
// The answer is one progress record (stage, done, total) and the texts drawn from it; the bar, its text, the
// status tag and the running counts all take it from there, so they never show different stages. A bar
// without a percent (writing records, which has no row count) is indeterminate rather than full. When the job
// has finished, the page reloads to show the final counts and rejected rows.
(() => {
  const bar = document.querySelector("progress[data-progress-url]");
  if (!bar) return;
  const text = document.getElementById("import-progress-text");
  const status = document.querySelector("[data-progress-status]");
  const counts = document.querySelector("[data-progress-counts]");
  const show = (data) => {
    if (data.percent === null || data.percent === undefined) {
      bar.removeAttribute("value");
      bar.textContent = "";
    } else {
      bar.value = data.percent;
      bar.textContent = `${data.percent}%`;
    }
    if (text && data.label) text.textContent = data.label;
    if (status && data.status_label) status.textContent = data.status_label;
    if (counts && data.counts_label) counts.textContent = data.counts_label;
  };
  const poll = async () => {
    try {
      const response = await fetch(bar.dataset.progressUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const data = await response.json();
        show(data);
        if (data.finished) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // A dropped request is retried on the next tick.
    }
    window.setTimeout(poll, 2000);
  };
  window.setTimeout(poll, 1000);
})();
