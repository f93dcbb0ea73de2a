// /console/assistants: the project's assistants, newest first.
import { listPage } from '../lib/api.js';
import { Link, Paged, Time, html, navigate } from '../lib/ui.js';

function toolTags(tools) {
  return (tools || []).map((tool) => html`<span class="tag">${
    tool.type === 'function' ? `fn ${tool.function?.name ?? ''}` : tool.type}</span>`);
}

export default function Assistants() {
  const fetchPage = (after) => listPage('/v1/assistants', { after });
  return html`<section>
    <div class="page-head">
      <div><h1>Assistants</h1><p class="sub">Models with instructions, tools and their files.</p></div>
      <div class="actions">
        <button data-testid="new-assistant" onClick=${() => navigate('/console/assistants/new')}>
          New assistant</button>
      </div>
    </div>
    <${Paged} fetchPage=${fetchPage} empty="No assistants yet: create one."
      render=${(items) => html`<table data-testid="assistants">
        <thead><tr><th>Name</th><th>Id</th><th>Model</th><th>Tools</th><th>Created</th></tr></thead>
        <tbody>${items.map((assistant) => html`<tr key=${assistant.id} data-testid="assistant-row">
          <td><${Link} href=${`/console/assistants/${assistant.id}`}>${
            assistant.name || html`<span class="muted">(unnamed)</span>`}</${Link}></td>
          <td><code>${assistant.id}</code></td>
          <td>${assistant.model}</td>
          <td>${toolTags(assistant.tools)}</td>
          <td><${Time} unix=${assistant.created_at} /></td>
        </tr>`)}</tbody>
      </table>`} />
  </section>`;
}
