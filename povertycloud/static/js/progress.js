// Import progress: while a batch is queued or running, ask its progress endpoint every two seconds and
// move the bar; when the import has finished, reload the page to show the counts and rejected rows.
(() => {
  const bar = document.querySelector("progress[data-progress-url]");
  if (!bar) return;
  const text = document.getElementById("import-progress-text");
  const poll = async () => {
    try {
      const response = await fetch(bar.dataset.progressUrl, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      if (response.ok) {
        const data = await response.json();
        bar.value = data.percent;
        bar.textContent = `${data.percent}%`;
        if (text) text.textContent = data.label;
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
