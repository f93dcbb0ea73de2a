// /console/assistants/:id — one assistant: view, edit, delete; /console/assistants/new creates.
import { useState } from 'preact/hooks';
import { api, listAll } from '../lib/api.js';
import {
  ConfirmButton, ErrorBox, Json, Link, Loading, Time, html, navigate, useAsync,
} from '../lib/ui.js';

const EMPTY_SCHEMA = '{\n  "type": "object",\n  "properties": {},\n  "required": []\n}';

// The form's own shape of a tool; unknown tool types are kept as they are.
function toolForm(tool) {
  if (tool.type === 'function') {
    const fn = tool.function || {};
    return {
      type: 'function', name: fn.name || '', description: fn.description || '',
      parameters: fn.parameters ? JSON.stringify(fn.parameters, null, 2) : EMPTY_SCHEMA,
      strict: Boolean(fn.strict),
    };
  }
  if (tool.type === 'file_search') {
    return { type: 'file_search', max_num_results: tool.file_search?.max_num_results ?? '', raw: tool };
  }
  if (tool.type === 'code_interpreter') return { type: 'code_interpreter' };
  return { type: 'unknown', raw: tool };
}

function toolBody(tool, index) {
  if (tool.type === 'function') {
    let parameters;
    try {
      parameters = JSON.parse(tool.parameters || '{}');
    } catch (error) {
      throw new Error(`Tool ${index + 1} (function ${tool.name || 'unnamed'}): its parameters are not valid JSON: ${error.message}`);
    }
    const fn = { name: tool.name, parameters, strict: tool.strict };
    if (tool.description) fn.description = tool.description;
    return { type: 'function', function: fn };
  }
  if (tool.type === 'file_search') {
    const options = { ...(tool.raw?.file_search || {}) };
    if (tool.max_num_results === '' || tool.max_num_results === null) delete options.max_num_results;
    else options.max_num_results = Number(tool.max_num_results);
    return Object.keys(options).length ? { type: 'file_search', file_search: options } : { type: 'file_search' };
  }
  if (tool.type === 'code_interpreter') return { type: 'code_interpreter' };
  return tool.raw;
}

function formOf(assistant) {
  const resources = assistant.tool_resources || {};
  return {
    name: assistant.name || '',
    description: assistant.description || '',
    model: assistant.model || 'gpt-4o',
    instructions: assistant.instructions || '',
    temperature: assistant.temperature ?? '',
    top_p: assistant.top_p ?? '',
    tools: (assistant.tools || []).map(toolForm),
    codeFiles: resources.code_interpreter?.file_ids || [],
    vectorStores: resources.file_search?.vector_store_ids || [],
    metadata: Object.entries(assistant.metadata || {}),
  };
}

function bodyOf(form) {
  const number = (text) => (text === '' || text === null ? null : Number(text));
  return {
    name: form.name || null,
    description: form.description || null,
    model: form.model,
    instructions: form.instructions || null,
    temperature: number(form.temperature),
    top_p: number(form.top_p),
    tools: form.tools.map(toolBody),
    tool_resources: {
      code_interpreter: { file_ids: form.codeFiles },
      file_search: { vector_store_ids: form.vectorStores },
    },
    metadata: Object.fromEntries(form.metadata.filter(([key]) => key.trim() !== '')),
  };
}

// Chosen ids as removable tags, and a picker of the project's own objects to add more.
function IdPicker({ ids, options, onChange, testid, describe }) {
  const [typed, setTyped] = useState('');
  const add = (id) => {
    const clean = id.trim();
    if (clean && !ids.includes(clean)) onChange([...ids, clean]);
  };
  const known = new Map((options || []).map((option) => [option.id, option]));
  return html`<div data-testid=${testid}>
    <div>${ids.length === 0 && html`<span class="muted">None.</span>`}
      ${ids.map((id) => html`<span class="tag" key=${id}>${
        known.has(id) ? `${describe(known.get(id))} · ` : ''}${id}
        <button class="small secondary" title="Remove" data-testid=${`${testid}-remove`}
          onClick=${() => onChange(ids.filter((other) => other !== id))}>×</button></span>`)}
    </div>
    <div class="row" style=${{ marginTop: '6px' }}>
      <select data-testid=${`${testid}-select`} onChange=${(event) => {
        add(event.target.value);
        event.target.value = '';
      }}>
        <option value="">${options ? 'Add one of yours…' : 'Loading…'}</option>
        ${(options || []).filter((option) => !ids.includes(option.id)).map((option) => html`
          <option value=${option.id}>${describe(option)} (${option.id})</option>`)}
      </select>
      <input placeholder="…or paste an id" value=${typed} data-testid=${`${testid}-id`}
        onInput=${(event) => setTyped(event.target.value)} />
      <button class="secondary" type="button" onClick=${() => { add(typed); setTyped(''); }}>
        Add</button>
    </div>
  </div>`;
}

function ToolEditor({ tool, index, onChange, onRemove }) {
  const set = (field, value) => onChange({ ...tool, [field]: value });
  let body = null;
  if (tool.type === 'function') {
    let schemaError = null;
    try { JSON.parse(tool.parameters || '{}'); } catch (error) { schemaError = error.message; }
    body = html`
      <div class="grid2">
        <div><label>Name</label>
          <input value=${tool.name} data-testid="function-name"
            onInput=${(event) => set('name', event.target.value)} /></div>
        <div><label>Description</label>
          <input value=${tool.description} data-testid="function-description"
            onInput=${(event) => set('description', event.target.value)} /></div>
      </div>
      <label>Parameters <span class="hint">(JSON schema)</span></label>
      <textarea rows="8" data-testid="function-parameters" value=${tool.parameters}
        onInput=${(event) => set('parameters', event.target.value)}></textarea>
      ${schemaError && html`<div class="error-box">Not valid JSON: ${schemaError}</div>`}
      <label class="inline"><input type="checkbox" checked=${tool.strict}
        onChange=${(event) => set('strict', event.target.checked)} /> strict</label>`;
  } else if (tool.type === 'file_search') {
    body = html`<label>Max results <span class="hint">(1–50; empty for the default)</span></label>
      <input type="number" min="1" max="50" value=${tool.max_num_results} style=${{ width: '160px' }}
        onInput=${(event) => set('max_num_results', event.target.value)} />`;
  } else if (tool.type === 'unknown') {
    body = html`<p class="muted">A tool type this console does not edit; kept as it is:</p>
      <${Json} value=${tool.raw} />`;
  }
  return html`<div class="tool" data-testid=${`tool-${tool.type}`}>
    <div class="tool-head">
      <strong>${index + 1}. ${tool.type === 'unknown' ? tool.raw.type : tool.type}</strong>
      <button class="small danger" type="button" data-testid="tool-remove" onClick=${onRemove}>
        Remove</button>
    </div>
    ${body}
  </div>`;
}

function Editor({ assistant, onSaved }) {
  const creating = !assistant;
  const [form, setForm] = useState(() => formOf(assistant || {}));
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  const [saving, setSaving] = useState(false);
  const files = useAsync(() => listAll('/v1/files', { purpose: 'assistants' }), []);
  const stores = useAsync(() => listAll('/v1/vector_stores'), []);
  const set = (field, value) => { setSaved(false); setForm({ ...form, [field]: value }); };

  const save = async (event) => {
    event.preventDefault();
    setError(null);
    setSaving(true);
    try {
      const body = bodyOf(form);
      const answer = creating
        ? await api('/v1/assistants', { method: 'POST', body })
        : await api(`/v1/assistants/${assistant.id}`, { method: 'POST', body });
      setSaved(true);
      onSaved(answer);
    } catch (failure) {
      setError(failure);
    } finally {
      setSaving(false);
    }
  };

  const addTool = (type) => set('tools', [...form.tools, type === 'function'
    ? { type, name: '', description: '', parameters: EMPTY_SCHEMA, strict: false }
    : { type, max_num_results: '' }]);
  const has = (type) => form.tools.some((tool) => tool.type === type);

  return html`<form class="card" onSubmit=${save} data-testid="assistant-form">
    <h2>${creating ? 'New assistant' : 'Settings'}</h2>
    <div class="grid2">
      <div><label for="a-name">Name</label>
        <input id="a-name" value=${form.name} data-testid="assistant-name"
          onInput=${(event) => set('name', event.target.value)} /></div>
      <div><label for="a-model">Model</label>
        <input id="a-model" value=${form.model} data-testid="assistant-model"
          onInput=${(event) => set('model', event.target.value)} /></div>
    </div>
    <label for="a-description">Description</label>
    <input id="a-description" value=${form.description} data-testid="assistant-description"
      onInput=${(event) => set('description', event.target.value)} />
    <label for="a-instructions">Instructions</label>
    <textarea id="a-instructions" class="prose" rows="6" value=${form.instructions}
      data-testid="assistant-instructions"
      onInput=${(event) => set('instructions', event.target.value)}></textarea>
    <div class="grid2">
      <div><label>Temperature <span class="hint">(0–2, empty for the default)</span></label>
        <input type="number" step="0.1" min="0" max="2" value=${form.temperature}
          onInput=${(event) => set('temperature', event.target.value)} /></div>
      <div><label>top_p <span class="hint">(0–1, empty for the default)</span></label>
        <input type="number" step="0.05" min="0" max="1" value=${form.top_p}
          onInput=${(event) => set('top_p', event.target.value)} /></div>
    </div>

    <h3>Tools</h3>
    ${form.tools.length === 0 && html`<p class="muted">No tools.</p>`}
    ${form.tools.map((tool, index) => html`<${ToolEditor} key=${index} tool=${tool} index=${index}
      onChange=${(changed) => set('tools', form.tools.map((old, at) => (at === index ? changed : old)))}
      onRemove=${() => set('tools', form.tools.filter((_, at) => at !== index))} />`)}
    <div class="actions">
      <button class="secondary" type="button" disabled=${has('code_interpreter')}
        data-testid="add-code_interpreter" onClick=${() => addTool('code_interpreter')}>
        + code_interpreter</button>
      <button class="secondary" type="button" disabled=${has('file_search')}
        data-testid="add-file_search" onClick=${() => addTool('file_search')}>+ file_search</button>
      <button class="secondary" type="button" data-testid="add-function"
        onClick=${() => addTool('function')}>+ function</button>
    </div>

    <h3>Tool resources</h3>
    <div class="grid2">
      <div><label>code_interpreter files</label>
        <${IdPicker} ids=${form.codeFiles} options=${files.value} testid="code-files"
          describe=${(file) => file.filename} onChange=${(ids) => set('codeFiles', ids)} />
        <${ErrorBox} error=${files.error} /></div>
      <div><label>file_search vector stores</label>
        <${IdPicker} ids=${form.vectorStores} options=${stores.value} testid="vector-store-ids"
          describe=${(store) => store.name || '(unnamed)'}
          onChange=${(ids) => set('vectorStores', ids)} />
        <${ErrorBox} error=${stores.error} /></div>
    </div>

    <h3>Metadata</h3>
    ${form.metadata.map(([key, value], index) => html`<div class="kv-row" key=${index}>
      <input placeholder="key" value=${key} data-testid="metadata-key"
        onInput=${(event) => set('metadata', form.metadata.map((pair, at) => (at === index ? [event.target.value, pair[1]] : pair)))} />
      <input placeholder="value" value=${value} data-testid="metadata-value"
        onInput=${(event) => set('metadata', form.metadata.map((pair, at) => (at === index ? [pair[0], event.target.value] : pair)))} />
      <button class="small danger" type="button"
        onClick=${() => set('metadata', form.metadata.filter((_, at) => at !== index))}>Remove</button>
    </div>`)}
    <button class="secondary small" type="button" data-testid="add-metadata"
      onClick=${() => set('metadata', [...form.metadata, ['', '']])}>+ key/value</button>

    <${ErrorBox} error=${error} />
    ${saved && html`<div class="ok-box" data-testid="saved">Saved.</div>`}
    <div class="form-actions">
      <button type="submit" data-testid="assistant-save" disabled=${saving}>
        ${creating ? 'Create assistant' : 'Save changes'}</button>
      <button class="secondary" type="button"
        onClick=${() => navigate('/console/assistants')}>Back to the list</button>
    </div>
  </form>`;
}

function Existing({ id }) {
  const found = useAsync(() => api(`/v1/assistants/${encodeURIComponent(id)}`), [id]);
  const [deleteError, setDeleteError] = useState(null);
  if (found.loading && !found.value) return html`<${Loading} />`;
  if (found.error && !found.value) {
    return html`<div class="crumbs"><${Link} href="/console/assistants">Assistants</${Link}> /</div>
      <${ErrorBox} error=${found.error} />`;
  }
  const assistant = found.value;
  const remove = async () => {
    try {
      await api(`/v1/assistants/${assistant.id}`, { method: 'DELETE' });
      navigate('/console/assistants');
    } catch (failure) {
      setDeleteError(failure);
    }
  };
  return html`<section>
    <div class="crumbs"><${Link} href="/console/assistants">Assistants</${Link}> /</div>
    <div class="page-head">
      <div>
        <h1 data-testid="assistant-title">${assistant.name || '(unnamed assistant)'}</h1>
        <p class="sub"><code>${assistant.id}</code> · ${assistant.model} · created
          ${' '}<${Time} unix=${assistant.created_at} /></p>
      </div>
      <div class="actions">
        <${ConfirmButton} label="Delete" confirm="Delete this assistant?" onConfirm=${remove} />
      </div>
    </div>
    <${ErrorBox} error=${deleteError} />
    <${Editor} key=${assistant.id} assistant=${assistant} onSaved=${() => found.reload()} />
    <details><summary>Raw JSON</summary><${Json} value=${assistant} /></details>
  </section>`;
}

export default function Assistant({ params }) {
  if (params.id === 'new') {
    return html`<section>
      <div class="crumbs"><${Link} href="/console/assistants">Assistants</${Link}> /</div>
      <${Editor} assistant=${null}
        onSaved=${(made) => navigate(`/console/assistants/${made.id}`, { replace: true })} />
    </section>`;
  }
  return html`<${Existing} id=${params.id} />`;
}
