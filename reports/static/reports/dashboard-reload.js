// The dashboard of a region and period whose numbers are being computed in the background: reload the page
// after the interval the server chose (about as long as such a computation takes, at least 5 s). Each reload
// reads one stored row; once the numbers are there the page no longer includes this script.
(() => {
  const pending = document.querySelector("[data-reload-after]");
  if (!pending) return;
  const seconds = Math.max(5, Number(pending.dataset.reloadAfter) || 10);
  window.setTimeout(() => window.location.reload(), seconds * 1000);
})();
