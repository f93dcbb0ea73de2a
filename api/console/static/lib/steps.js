// A run's steps: the message it wrote, and each tool call with what went in and came out.
import { FileImage, FileLink } from './content.js';
import { Code } from './highlight.js';
import { Json, Status, Time, html } from './ui.js';

function pretty(text) {
  if (typeof text !== 'string' || text === '') return text ?? '';
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function FunctionCall({ call }) {
  const fn = call.function || {};
  const answered = fn.output !== null && fn.output !== undefined;
  return html`<div class="tool-call" data-testid="function-call" data-call-id=${call.id}>
    <div class="tool-head"><strong>function</strong> <code>${fn.name}</code>
      <span class="muted">${call.id}</span></div>
    <div class="label">arguments</div>
    <pre class="json" data-testid="function-arguments">${pretty(fn.arguments)}</pre>
    <div class="label">output</div>
    ${answered
    ? html`<pre class="json" data-testid="function-output">${pretty(fn.output)}</pre>`
    : html`<div class="muted" data-testid="function-output-pending">not answered yet</div>`}
  </div>`;
}

function CodeOutput({ output }) {
  if (output.type === 'logs') {
    return html`<pre class="logs" data-testid="code-logs">${output.logs}</pre>`;
  }
  if (output.type === 'image' && output.image?.file_id) {
    return html`<${FileImage} fileId=${output.image.file_id} testid="code-image" />`;
  }
  return html`<${Json} value=${output} />`;
}

function CodeInterpreterCall({ call }) {
  const ran = call.code_interpreter || {};
  const outputs = ran.outputs || [];
  return html`<div class="tool-call" data-testid="code-call" data-call-id=${call.id}>
    <div class="tool-head"><strong>code_interpreter</strong>
      <span class="muted">${call.id}</span></div>
    <div class="label">input</div>
    <${Code} code=${ran.input || ''} testid="code-input" />
    <div class="label">outputs</div>
    ${outputs.length === 0 && html`<div class="muted">none yet</div>`}
    ${outputs.map((output, index) => html`<${CodeOutput} key=${index} output=${output} />`)}
  </div>`;
}

function SearchResult({ result }) {
  const texts = (result.content || []).map((part) => (part.type === 'text' ? part.text : null))
    .filter((text) => text !== null);
  return html`<li class="search-result" data-testid="search-result">
    <${FileLink} fileId=${result.file_id} label=${result.file_name || result.file_id}
      testid="search-result-file" />
    <span class="score" data-testid="search-score">score ${Number(result.score).toFixed(4)}</span>
    ${texts.map((text) => html`<blockquote class="search-text">${text}</blockquote>`)}
  </li>`;
}

function FileSearchCall({ call }) {
  const search = call.file_search || {};
  const results = search.results || [];
  const ranking = search.ranking_options;
  return html`<div class="tool-call" data-testid="file-search-call" data-call-id=${call.id}>
    <div class="tool-head"><strong>file_search</strong>
      <span class="muted">${call.id}</span></div>
    ${search.query && html`<div>query: <q data-testid="search-query">${search.query}</q></div>`}
    ${ranking && html`<div class="muted">${
      `ranker ${ranking.ranker}, score threshold ${ranking.score_threshold}`}</div>`}
    ${results.length === 0
    ? html`<div class="muted">no results</div>`
    : html`<ol class="search-results">${results.map((result) => html`
        <${SearchResult} result=${result} />`)}</ol>`}
  </div>`;
}

function ToolCall({ call }) {
  if (call.type === 'function') return html`<${FunctionCall} call=${call} />`;
  if (call.type === 'code_interpreter') return html`<${CodeInterpreterCall} call=${call} />`;
  if (call.type === 'file_search') return html`<${FileSearchCall} call=${call} />`;
  return html`<div class="tool-call" data-testid="raw-tool-call"><${Json} value=${call} /></div>`;
}

export function Step({ step }) {
  const details = step.step_details || {};
  let body;
  if (details.type === 'message_creation') {
    body = html`<div class="muted">wrote message${' '}<code>${
      details.message_creation?.message_id}</code></div>`;
  } else if (details.type === 'tool_calls') {
    body = (details.tool_calls || []).map((call) => html`<${ToolCall} call=${call} />`);
  } else {
    body = html`<${Json} value=${details} />`;
  }
  return html`<li class="step" data-testid="run-step" data-step-id=${step.id}
      data-type=${step.type}>
    <div class="step-head">
      <code>${step.id}</code> <span>${step.type}</span> <${Status} value=${step.status} />
      <span class="muted"> created <${Time} unix=${step.created_at} />
        ${step.completed_at ? html`, completed <${Time} unix=${step.completed_at} />` : ''}</span>
      ${step.usage && html`<span class="muted"> · ${step.usage.total_tokens} tokens</span>`}
    </div>
    ${step.last_error && html`<div class="error-box" data-testid="step-error">
      ${step.last_error.code}: ${step.last_error.message}</div>`}
    ${body}
  </li>`;
}
