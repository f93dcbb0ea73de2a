// /console/vector_stores: the project's vector stores; create and delete.
import { useState } from 'preact/hooks';
import { api, listPage } from '../lib/api.js';
import {
  ConfirmButton, ErrorBox, Link, Paged, Status, Time, bytes, html, navigate,
} from '../lib/ui.js';

export function Counts({ counts }) {
  if (!counts) return html`<span class="muted">—</span>`;
  return html`<span title="completed / in progress / failed / cancelled of total">
    ${counts.completed} done${counts.in_progress ? `, ${counts.in_progress} indexing` : ''}${
    counts.failed ? `, ${counts.failed} failed` : ''}${counts.cancelled ? `, ${counts.cancelled} cancelled` : ''}
    <span class="muted"> of ${counts.total}</span></span>`;
}

function CreateForm() {
  const [name, setName] = useState('');
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      const store = await api('/v1/vector_stores', { method: 'POST', body: { name: name || undefined } });
      navigate(`/console/vector_stores/${store.id}`);
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<form class="card" onSubmit=${submit} data-testid="create-store">
    <div class="row">
      <input placeholder="Name of a new vector store" value=${name} data-testid="store-name"
        onInput=${(event) => setName(event.target.value)} />
      <button type="submit" data-testid="store-create">Create vector store</button>
    </div>
    <${ErrorBox} error=${error} />
  </form>`;
}

function StoreRow({ store, onDeleted }) {
  const [error, setError] = useState(null);
  const remove = async () => {
    try {
      await api(`/v1/vector_stores/${store.id}`, { method: 'DELETE' });
      onDeleted();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<tr data-testid="store-row">
    <td><${Link} href=${`/console/vector_stores/${store.id}`}>${
      store.name || html`<span class="muted">(unnamed)</span>`}</${Link}>
      <${ErrorBox} error=${error} /></td>
    <td><code>${store.id}</code></td>
    <td><${Status} value=${store.status} /></td>
    <td><${Counts} counts=${store.file_counts} /></td>
    <td class="num">${bytes(store.usage_bytes)}</td>
    <td><${Time} unix=${store.created_at} /></td>
    <td><${ConfirmButton} label="Delete" confirm="Delete this store?" onConfirm=${remove} /></td>
  </tr>`;
}

export default function VectorStores() {
  const [round, setRound] = useState(0);
  const fetchPage = (after) => listPage('/v1/vector_stores', { after });
  return html`<section>
    <div class="page-head">
      <div><h1>Vector stores</h1>
        <p class="sub">Indexed files that file_search looks through.</p></div>
    </div>
    <${CreateForm} />
    <${Paged} key=${round} fetchPage=${fetchPage} empty="No vector stores yet."
      render=${(items) => html`<table data-testid="stores">
        <thead><tr><th>Name</th><th>Id</th><th>Status</th><th>Files</th><th class="num">Size</th>
          <th>Created</th><th></th></tr></thead>
        <tbody>${items.map((store) => html`<${StoreRow} key=${store.id} store=${store}
          onDeleted=${() => setRound((n) => n + 1)} />`)}</tbody>
      </table>`} />
  </section>`;
}
