// /console/vector_stores/:id — one store: its files with their status and last_error, adding
// a file (uploaded with a progress bar, or one already uploaded), and a search box.
import { useEffect, useState } from 'preact/hooks';
import { api, listAll } from '../lib/api.js';
import {
  ConfirmButton, ErrorBox, Json, Link, Loading, Status, Time, bytes, html, navigate, useAsync,
} from '../lib/ui.js';
import { UploadForm } from './files.js';
import { Counts } from './vector_stores.js';

// While files are indexing the page asks again this often.
const POLL_MS = 2000;

function parseAttributes(text) {
  if (!text.trim()) return undefined;
  let value;
  try { value = JSON.parse(text); } catch (error) {
    throw new Error(`Attributes are not valid JSON: ${error.message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('Attributes must be a JSON object, like {"region": "emea"}.');
  }
  return value;
}

function AddFile({ storeId, onAdded }) {
  const [attributes, setAttributes] = useState('');
  const [existing, setExisting] = useState('');
  const [error, setError] = useState(null);
  const files = useAsync(() => listAll('/v1/files', { purpose: 'assistants' }), []);

  const attach = async (fileId) => {
    setError(null);
    try {
      const body = { file_id: fileId };
      const parsed = parseAttributes(attributes);
      if (parsed) body.attributes = parsed;
      await api(`/v1/vector_stores/${storeId}/files`, { method: 'POST', body });
      setExisting('');
      onAdded();
    } catch (failure) {
      setError(failure);
    }
  };

  return html`<div class="card" data-testid="add-file">
    <h3>Add a file</h3>
    <label>Attributes <span class="hint">(optional JSON object, used by search filters)</span></label>
    <input value=${attributes} placeholder='{"region": "emea", "year": 2024}'
      data-testid="add-attributes" onInput=${(event) => setAttributes(event.target.value)} />
    <label>Upload a new file</label>
    <${UploadForm} purposes=${['assistants']} label="Upload and add"
      onUploaded=${(file) => attach(file.id)} />
    <label>…or add one already uploaded</label>
    <div class="row">
      <select value=${existing} data-testid="add-existing"
        onChange=${(event) => setExisting(event.target.value)}>
        <option value="">${files.value ? 'Choose a file…' : 'Loading…'}</option>
        ${(files.value || []).map((file) => html`<option value=${file.id}>
          ${file.filename} (${file.id})</option>`)}
      </select>
      <button type="button" disabled=${!existing} data-testid="add-existing-submit"
        onClick=${() => attach(existing)}>Add</button>
    </div>
    <${ErrorBox} error=${error || files.error} />
  </div>`;
}

function StoreFiles({ storeId, files, names, onChanged }) {
  const [error, setError] = useState(null);
  const remove = async (fileId) => {
    setError(null);
    try {
      await api(`/v1/vector_stores/${storeId}/files/${fileId}`, { method: 'DELETE' });
      onChanged();
    } catch (failure) {
      setError(failure);
    }
  };
  if (files.length === 0) return html`<p class="muted" data-testid="empty">No files in this store yet.</p>`;
  return html`<${ErrorBox} error=${error} />
    <table data-testid="store-files">
      <thead><tr><th>File</th><th>Status</th><th>Last error</th><th>Attributes</th>
        <th class="num">Size</th><th>Added</th><th></th></tr></thead>
      <tbody>${files.map((file) => html`<tr key=${file.id} data-testid="store-file-row">
        <td>${names.get(file.id) || ''}<div><code>${file.id}</code></div></td>
        <td><${Status} value=${file.status} /></td>
        <td data-testid="last-error">${file.last_error
          ? html`<strong>${file.last_error.code}</strong>: ${file.last_error.message}`
          : html`<span class="muted">—</span>`}</td>
        <td>${Object.entries(file.attributes || {}).map(([key, value]) => html`
          <span class="tag">${key}=${JSON.stringify(value)}</span>`)}</td>
        <td class="num">${bytes(file.usage_bytes)}</td>
        <td><${Time} unix=${file.created_at} /></td>
        <td><${ConfirmButton} label="Remove" confirm="Remove from the store?" testid="remove-file"
          onConfirm=${() => remove(file.id)} /></td>
      </tr>`)}</tbody>
    </table>`;
}

function Hit({ hit }) {
  return html`<div class="hit" data-testid="search-hit">
    <div class="hit-head">
      <span><strong>${hit.filename}</strong> <code class="muted">${hit.file_id}</code></span>
      <span>score <span class="score" data-testid="search-score">${
        typeof hit.score === 'number' ? hit.score.toFixed(4) : String(hit.score)}</span></span>
    </div>
    ${Object.keys(hit.attributes || {}).length > 0 && html`<div data-testid="search-attributes">
      ${Object.entries(hit.attributes).map(([key, value]) => html`
        <span class="tag">${key}=${JSON.stringify(value)}</span>`)}</div>`}
    ${(hit.content || []).map((part) => (part.type === 'text'
      ? html`<div class="hit-text">${part.text}</div>` : html`<${Json} value=${part} />`))}
  </div>`;
}

function Search({ storeId }) {
  const [query, setQuery] = useState('');
  const [max, setMax] = useState('10');
  const [filters, setFilters] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const body = { query, max_num_results: Number(max) || 10 };
      if (filters.trim()) {
        try { body.filters = JSON.parse(filters); } catch (failure) {
          throw new Error(`Filters are not valid JSON: ${failure.message}`);
        }
      }
      setResult(await api(`/v1/vector_stores/${storeId}/search`, { method: 'POST', body }));
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  return html`<div class="card" data-testid="search">
    <h3>Search</h3>
    <form onSubmit=${submit}>
      <div class="row">
        <input placeholder="What to look for" value=${query} data-testid="search-query"
          onInput=${(event) => setQuery(event.target.value)} />
        <input type="number" min="1" max="50" value=${max} class="shrink" style=${{ width: '90px' }}
          title="Most results" onInput=${(event) => setMax(event.target.value)} />
        <button type="submit" data-testid="search-submit" disabled=${busy}>Search</button>
      </div>
      <details><summary class="hint">Filters (JSON)</summary>
        <textarea rows="3" value=${filters} data-testid="search-filters"
          placeholder='{"type": "eq", "key": "region", "value": "emea"}'
          onInput=${(event) => setFilters(event.target.value)}></textarea>
      </details>
    </form>
    <${ErrorBox} error=${error} />
    ${result && html`<div data-testid="search-results">
      <p class="muted">${result.data.length} result${result.data.length === 1 ? '' : 's'} for
        ${' '}${(result.search_query || []).map((text) => html`<span class="tag">${text}</span>`)}</p>
      ${result.data.map((hit, index) => html`<${Hit} key=${index} hit=${hit} />`)}
    </div>`}
  </div>`;
}

export default function VectorStore({ params }) {
  const id = params.id;
  const store = useAsync(() => api(`/v1/vector_stores/${encodeURIComponent(id)}`), [id]);
  const files = useAsync(() => listAll(`/v1/vector_stores/${encodeURIComponent(id)}/files`), [id]);
  const names = useAsync(async () => new Map(
    (await listAll('/v1/files')).map((file) => [file.id, file.filename])), [id, files.value?.length]);
  const [deleteError, setDeleteError] = useState(null);
  const refresh = () => { store.reload(); files.reload(); };

  const indexing = (files.value || []).some((file) => file.status === 'in_progress');
  useEffect(() => {
    if (!indexing) return undefined;
    const timer = setTimeout(refresh, POLL_MS);
    return () => clearTimeout(timer);
  }, [indexing, files.value]);

  if (store.loading && !store.value) return html`<${Loading} />`;
  if (store.error && !store.value) {
    return html`<div class="crumbs"><${Link} href="/console/vector_stores">Vector stores</${Link}> /</div>
      <${ErrorBox} error=${store.error} />`;
  }
  const current = store.value;
  const remove = async () => {
    try {
      await api(`/v1/vector_stores/${id}`, { method: 'DELETE' });
      navigate('/console/vector_stores');
    } catch (failure) {
      setDeleteError(failure);
    }
  };
  return html`<section>
    <div class="crumbs"><${Link} href="/console/vector_stores">Vector stores</${Link}> /</div>
    <div class="page-head">
      <div>
        <h1 data-testid="store-title">${current.name || '(unnamed vector store)'}</h1>
        <p class="sub"><code>${current.id}</code> · <${Status} value=${current.status} /> ·
          ${' '}<${Counts} counts=${current.file_counts} /> · ${bytes(current.usage_bytes)} · created
          ${' '}<${Time} unix=${current.created_at} />
          ${current.expires_at && html` · expires <${Time} unix=${current.expires_at} />`}</p>
      </div>
      <div class="actions">
        <button class="secondary" onClick=${refresh}>Refresh</button>
        <${ConfirmButton} label="Delete" confirm="Delete this store?" onConfirm=${remove} />
      </div>
    </div>
    <${ErrorBox} error=${deleteError || store.error} />
    <div class="grid2">
      <${AddFile} storeId=${id} onAdded=${refresh} />
      <${Search} storeId=${id} />
    </div>
    <h2>Files ${indexing && html`<span class="hint">(indexing… refreshing)</span>`}</h2>
    <${ErrorBox} error=${files.error} />
    ${files.value ? html`<${StoreFiles} storeId=${id} files=${files.value}
      names=${names.value || new Map()} onChanged=${refresh} />` : html`<${Loading} />`}
    ${Object.keys(current.metadata || {}).length > 0 && html`<h2>Metadata</h2>
      <${Json} value=${current.metadata} />`}
  </section>`;
}
