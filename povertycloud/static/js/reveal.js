// "显示" buttons: fetch one sensitive value and put it in place of its masked text.
// Without JavaScript the form posts normally and the page reloads showing the value once.
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-reveal]");
  if (!form) return;
  event.preventDefault();
  const target = document.getElementById(form.dataset.target);
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    if (target) target.textContent = data.value;
    form.remove();
  } catch (error) {
    if (target) target.setAttribute("title", form.dataset.denied || "");
    form.querySelector("button").disabled = true;
  }
});
