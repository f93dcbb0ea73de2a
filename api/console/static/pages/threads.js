// The project's threads, newest first (GET /v1/threads, a Treadle extension), paged; a new
// thread; a thread opened by its id.
import { useCallback, useState } from 'preact/hooks';
import { api, listPage } from '../lib/api.js';
import { addStylesheet } from '../lib/content.js';
import { ErrorBox, Link, Paged, Time, html, navigate } from '../lib/ui.js';

addStylesheet('/console/static/thread.css');

function metadataText(metadata) {
  const entries = Object.entries(metadata || {});
  return entries.length ? entries.map(([key, value]) => `${key}=${value}`).join(', ') : '';
}

function ThreadRows({ threads }) {
  return html`<table class="list" data-testid="threads-table">
    <thead><tr><th>Thread</th><th>Created</th><th>Metadata</th></tr></thead>
    <tbody>${threads.map((thread) => html`
      <tr key=${thread.id} data-testid="thread-row" data-thread-id=${thread.id}>
        <td><${Link} href=${`/console/threads/${thread.id}`} data-testid="thread-link">
          <code>${thread.id}</code></${Link}></td>
        <td><${Time} unix=${thread.created_at} /></td>
        <td class="muted">${metadataText(thread.metadata)}</td>
      </tr>`)}
    </tbody>
  </table>`;
}

function parseMetadata(text) {
  const metadata = {};
  for (const line of text.split('\n').map((item) => item.trim()).filter(Boolean)) {
    const at = line.indexOf('=');
    if (at <= 0) throw new Error(`Metadata lines are key=value; got "${line}".`);
    metadata[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return metadata;
}

function NewThread() {
  const [metadata, setMetadata] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const create = async (event) => {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const thread = await api('/v1/threads', { method: 'POST',
        body: { metadata: parseMetadata(metadata) } });
      navigate(`/console/threads/${thread.id}`);
    } catch (failure) {
      setError(failure);
      setBusy(false);
    }
  };
  return html`<div class="card">
    <form class="inline-form" onSubmit=${create} data-testid="thread-create-form">
      <label>Metadata <span class="hint">(optional, one key=value a line)</span>
        <textarea rows="1" data-testid="thread-metadata" value=${metadata}
          onInput=${(event) => setMetadata(event.target.value)}></textarea></label>
      <button type="submit" data-testid="thread-create" disabled=${busy}>New thread</button>
    </form>
    <${ErrorBox} error=${error} />
  </div>`;
}

function OpenById() {
  const [id, setId] = useState('');
  const open = (event) => {
    event.preventDefault();
    if (id.trim()) navigate(`/console/threads/${encodeURIComponent(id.trim())}`);
  };
  return html`<form class="inline-form" onSubmit=${open}>
    <input placeholder="thread_…" data-testid="thread-open-id" value=${id}
      onInput=${(event) => setId(event.target.value)} />
    <button type="submit" class="secondary" data-testid="thread-open">Open</button>
  </form>`;
}

export default function Threads() {
  const fetchPage = useCallback((after) => listPage('/v1/threads', { after, limit: 20 }), []);
  return html`<section data-testid="threads-page">
    <div class="page-head">
      <h1>Threads</h1>
      <${OpenById} />
    </div>
    <${NewThread} />
    <${Paged} fetchPage=${fetchPage} empty="No threads yet."
      render=${(threads) => html`<${ThreadRows} threads=${threads} />`} />
  </section>`;
}
