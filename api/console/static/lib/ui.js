// Small shared components. Pages import `html` from here and write htm templates.
import { h, Component } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

export function Loading({ label = 'Loading…' }) {
  return html`<div class="loading" data-testid="loading">${label}</div>`;
}

export function ErrorBox({ error, title }) {
  if (!error) return null;
  const details = [error.status && `HTTP ${error.status}`, error.type, error.code,
    error.param && `param: ${error.param}`].filter(Boolean);
  return html`<div class="error-box" role="alert" data-testid="error">
    ${title && html`<strong>${title}</strong> `}
    <span data-testid="error-message">${error.message || String(error)}</span>
    ${details.length > 0 && html`<div class="error-details">${details.join(' · ')}</div>`}
  </div>`;
}

export function Json({ value }) {
  return html`<pre class="json" data-testid="json">${JSON.stringify(value, null, 2)}</pre>`;
}

export function Time({ unix }) {
  if (unix === null || unix === undefined) return html`<span class="muted">—</span>`;
  const when = new Date(unix * 1000);
  return html`<time datetime=${when.toISOString()} title=${when.toISOString()}>${
    when.toLocaleString()}</time>`;
}

export function navigate(href, { replace = false } = {}) {
  if (href !== location.pathname + location.search) {
    if (replace) history.replaceState(null, '', href); else history.pushState(null, '', href);
  }
  window.dispatchEvent(new Event('treadle:navigate'));
}

export function Link({ href, children, ...rest }) {
  const onClick = (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    event.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

// A list with "Load more". fetchPage(after) -> {data, has_more, last_id}; render(items) draws
// them. To reload from the first page, give the component a new `key`.
export function Paged({ fetchPage, render, empty = 'Nothing here yet.' }) {
  const [items, setItems] = useState([]);
  const [cursor, setCursor] = useState({ after: undefined, more: true });
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(true);

  const load = useCallback(async (after) => {
    setLoading(true);
    setError(null);
    try {
      const page = await fetchPage(after);
      setItems((before) => (after ? [...before, ...page.data] : page.data));
      setCursor({ after: page.last_id, more: page.has_more });
    } catch (failure) {
      setError(failure);
    } finally {
      setLoading(false);
    }
  }, [fetchPage]);

  useEffect(() => { load(undefined); }, []);

  return html`<div class="paged">
    ${items.length > 0 ? render(items) : !loading && !error && html`<p class="muted" data-testid="empty">${empty}</p>`}
    <${ErrorBox} error=${error} />
    ${loading ? html`<${Loading} />` : cursor.more && !error && html`
      <button class="secondary" data-testid="load-more" onClick=${() => load(cursor.after)}>
        Load more</button>`}
  </div>`;
}

// Runs `load` when `deps` change: {value, error, loading, reload}.
export function useAsync(load, deps = []) {
  const [state, setState] = useState({ value: undefined, error: null, loading: true });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setState((before) => ({ ...before, loading: true }));
    load().then(
      (value) => live && setState({ value, error: null, loading: false }),
      (error) => live && setState((before) => ({ ...before, error, loading: false })),
    );
    return () => { live = false; };
  }, [...deps, round]);
  return { ...state, reload: () => setRound((n) => n + 1) };
}

// A destructive button that asks once more, inline.
export function ConfirmButton({ label = 'Delete', confirm = 'Really delete?', onConfirm,
  testid = 'delete' }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return html`<button class="danger" data-testid=${testid} onClick=${() => setAsking(true)}>
      ${label}</button>`;
  }
  return html`<span class="confirm">
    <span>${confirm}</span>
    <button class="danger" data-testid=${`${testid}-confirm`}
      onClick=${() => { setAsking(false); onConfirm(); }}>Yes, ${label.toLowerCase()}</button>
    <button class="secondary" onClick=${() => setAsking(false)}>Cancel</button>
  </span>`;
}

export function Status({ value }) {
  return html`<span class=${`status status-${value}`} data-testid="status">${value}</span>`;
}

export function Progress({ fraction, label }) {
  const percent = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
  return html`<div class="progress" data-testid="progress" role="progressbar"
      aria-valuenow=${percent} aria-valuemin="0" aria-valuemax="100">
    <div class="progress-bar" style=${{ width: `${percent}%` }}></div>
    <span class="progress-label">${label ?? `${percent}%`}</span>
  </div>`;
}

export function bytes(count) {
  if (count === null || count === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB'];
  let value = count;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

// Shows a rendering failure inside one page instead of a blank console.
export class ErrorBoundary extends Component {
  constructor() { super(); this.state = { error: null }; }
  static getDerivedStateFromError(error) { return { error }; }
  render() {
    if (this.state.error) {
      return html`<${ErrorBox} title="This page failed to render:" error=${this.state.error} />`;
    }
    return this.props.children;
  }
}
