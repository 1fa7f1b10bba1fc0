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

// Task list bulk actions: show only the fields the chosen action needs, keep a count of the
// selection, and in "all matching" mode turn unticked rows into exclusions.
(() => {
  const form = () => document.getElementById('bulk-form');
  const rowBoxes = () => [...document.querySelectorAll('input[name="ids"][form="bulk-form"]')];
  const excluded = new Set();

  function showFields() {
    const f = form();
    if (!f) return;
    const action = f.elements.action.value;
    for (const field of f.querySelectorAll('[data-for]')) {
      field.hidden = !field.dataset.for.split(' ').includes(action);
    }
  }

  function syncExclusions() {
    const f = form();
    for (const input of f.querySelectorAll('input[name="excluded"]')) input.remove();
    for (const id of excluded) {
      const input = document.createElement('input');
      input.type = 'hidden';
      input.name = 'excluded';
      input.value = id;
      f.appendChild(input);
    }
  }

  function refresh() {
    const f = form();
    if (!f) return;
    const all = f.elements.scope.value === 'all';
    const boxes = rowBoxes();
    if (all) for (const box of boxes) box.checked = !excluded.has(box.value);
    const ticked = boxes.filter((b) => b.checked).length;
    const pageBox = document.getElementById('select-page');
    if (pageBox) {
      pageBox.hidden = false;
      pageBox.checked = boxes.length > 0 && ticked === boxes.length;
      pageBox.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    const count = document.getElementById('bulk-count');
    const totalEl = document.getElementById('task-total-count');
    const total = totalEl ? totalEl.textContent.trim() : '0';
    if (all) {
      count.textContent = `All ${total} matching tasks selected` + (excluded.size ? `, minus ${excluded.size} unticked` : '') + '.';
    } else {
      count.textContent = ticked ? `${ticked} ticked ${ticked === 1 ? 'row' : 'rows'} selected.` : 'Tick rows below, or apply to every task matching the filter.';
    }
    syncExclusions();
  }

  document.addEventListener('change', (event) => {
    const target = event.target;
    const f = form();
    if (!f) return;
    if (target.id === 'bulk-action') showFields();
    if (target.id === 'bulk-scope') excluded.clear();
    if (target.id === 'select-page') {
      for (const box of rowBoxes()) {
        box.checked = target.checked;
        if (target.checked) excluded.delete(box.value); else excluded.add(box.value);
      }
      if (f.elements.scope.value !== 'all') excluded.clear();
    }
    if (target.matches('input[name="ids"][form="bulk-form"]') && f.elements.scope.value === 'all') {
      if (target.checked) excluded.delete(target.value); else excluded.add(target.value);
    }
    refresh();
  });

  // confirm destructive actions before htmx sends them
  document.addEventListener('htmx:confirm', (event) => {
    const f = form();
    if (!f || event.detail.elt !== f) return;
    const option = f.elements.action.selectedOptions[0];
    const message = option && option.dataset.confirmAction;
    if (!message) return;
    event.preventDefault();
    if (window.confirm(message)) event.detail.issueRequest(true);
  });

  // a new page of results: keep the selection mode, start the ticks afresh; the last bulk
  // result was about the previous view, so it goes
  document.addEventListener('htmx:afterSettle', (event) => {
    if (!event.detail.target || event.detail.target.id !== 'task-results') return;
    refresh();
    const outcome = document.getElementById('bulk-outcome');
    if (outcome && event.detail.requestConfig && event.detail.requestConfig.elt && event.detail.requestConfig.elt.id !== 'task-refresh') outcome.innerHTML = '';
  });
  document.addEventListener('DOMContentLoaded', () => {
    showFields();
    refresh();
  });
})();

// Dismiss buttons (a bulk action's result, flashes).
document.addEventListener('click', (event) => {
  const button = event.target.closest('[data-dismiss]');
  if (button) button.closest(button.dataset.dismiss)?.remove();
});

// Filter dropdowns (<details>): one open at a time, closed by a click outside or Escape.
document.addEventListener('click', (event) => {
  for (const open of document.querySelectorAll('details.dropdown[open]')) {
    if (!open.contains(event.target)) open.open = false;
  }
});
document.addEventListener('keydown', (event) => {
  if (event.key !== 'Escape') return;
  for (const open of document.querySelectorAll('details.dropdown[open]')) open.open = false;
});

