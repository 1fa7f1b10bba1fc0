// Small progressive enhancements. Everything works without this file.
document.addEventListener('htmx:responseError', (event) => {
  const area = document.getElementById('flash');
  if (!area) return;
  const status = event.detail.xhr.status;
  const message = status === 403 ? 'This page has expired. Reload it and try again.'
    : status === 404 ? 'That item no longer exists or you cannot access it.'
    : status === 429 ? 'Too many requests. Wait a moment and try again.'
    : 'Something went wrong. Reload the page and try again.';
  area.innerHTML = '';
  const div = document.createElement('div');
  div.className = 'flash flash-error';
  div.setAttribute('role', 'alert');
  div.textContent = message;
  area.appendChild(div);
});

// Buttons with data-confirm ask before submitting their form.
document.addEventListener('submit', (event) => {
  const button = event.submitter;
  const message = (button && button.dataset.confirm) || event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

// Copy buttons next to one-time secrets.
document.addEventListener('click', (event) => {
  const button = event.target.closest('[data-copy]');
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.textContent.trim()).then(() => { button.textContent = 'Copied'; });
  }
});
