// /console/files: the project's files: upload with progress, download, delete.
import { useState } from 'preact/hooks';
import { api, apiBlob, listPage, upload } from '../lib/api.js';
import {
  ConfirmButton, ErrorBox, Paged, Progress, Time, bytes, html,
} from '../lib/ui.js';

const PURPOSES = ['assistants', 'vision', 'user_data', 'batch', 'fine-tune', 'evals'];

// Saves a blob under its name through a temporary object URL: the download carries the key
// in its Authorization header, which a plain link could not.
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// Uploads one chosen file with a progress bar; onUploaded(file object) after.
export function UploadForm({ onUploaded, purposes = PURPOSES, label = 'Upload' }) {
  const [chosen, setChosen] = useState(null);
  const [purpose, setPurpose] = useState(purposes[0]);
  const [progress, setProgress] = useState(null);
  const [error, setError] = useState(null);

  const submit = async (event) => {
    event.preventDefault();
    if (!chosen) {
      setError(new Error('Choose a file first.'));
      return;
    }
    const form = new FormData();
    form.append('purpose', purpose);
    form.append('file', chosen);
    setError(null);
    setProgress(0);
    try {
      const file = await upload('/v1/files', form, setProgress);
      event.target.reset();
      setChosen(null);
      await onUploaded(file);
    } catch (failure) {
      setError(failure);
    } finally {
      setProgress(null);
    }
  };

  return html`<form class="card" onSubmit=${submit} data-testid="upload-form">
    <div class="row">
      <input type="file" data-testid="upload-input"
        onChange=${(event) => setChosen(event.target.files[0] || null)} />
      ${purposes.length > 1 && html`<select class="shrink" style=${{ width: '160px' }}
        value=${purpose} data-testid="upload-purpose"
        onChange=${(event) => setPurpose(event.target.value)}>
        ${purposes.map((name) => html`<option value=${name}>${name}</option>`)}
      </select>`}
      <button type="submit" data-testid="upload-submit" disabled=${progress !== null}>
        ${label}</button>
    </div>
    ${progress !== null && html`<${Progress} fraction=${progress}
      label=${progress < 1 ? `Uploading ${chosen?.name ?? ''}… ${Math.round(progress * 100)}%` : 'Processing…'} />`}
    <${ErrorBox} error=${error} />
  </form>`;
}

function FileRow({ file, onDeleted }) {
  const [error, setError] = useState(null);
  const download = async () => {
    setError(null);
    try {
      saveBlob(await apiBlob(`/v1/files/${file.id}/content`), file.filename);
    } catch (failure) {
      setError(failure);
    }
  };
  const remove = async () => {
    setError(null);
    try {
      await api(`/v1/files/${file.id}`, { method: 'DELETE' });
      onDeleted();
    } catch (failure) {
      setError(failure);
    }
  };
  return html`<tr data-testid="file-row">
    <td>${file.filename}<${ErrorBox} error=${error} /></td>
    <td><code>${file.id}</code></td>
    <td>${file.purpose}</td>
    <td class="num">${bytes(file.bytes)}</td>
    <td><${Time} unix=${file.created_at} /></td>
    <td><div class="actions">
      <button class="secondary" data-testid="download" onClick=${download}>Download</button>
      <${ConfirmButton} label="Delete" confirm="Delete this file?" onConfirm=${remove} />
    </div></td>
  </tr>`;
}

export default function Files() {
  const [round, setRound] = useState(0);
  const reload = () => setRound((n) => n + 1);
  const fetchPage = (after) => listPage('/v1/files', { after });
  return html`<section>
    <div class="page-head">
      <div><h1>Files</h1><p class="sub">Uploads for assistants, messages and vector stores.</p></div>
    </div>
    <${UploadForm} onUploaded=${reload} />
    <${Paged} key=${round} fetchPage=${fetchPage} empty="No files yet: upload one."
      render=${(items) => html`<table data-testid="files">
        <thead><tr><th>Name</th><th>Id</th><th>Purpose</th><th class="num">Size</th>
          <th>Created</th><th></th></tr></thead>
        <tbody>${items.map((file) => html`<${FileRow} key=${file.id} file=${file}
          onDeleted=${reload} />`)}</tbody>
      </table>`} />
  </section>`;
}
