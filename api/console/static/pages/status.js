// /console/status: the key's runs by status and the deployment's health (GET /v1/status, the
// facts `treadle status` prints), asked again every few seconds.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { ErrorBox, Json, Loading, Status, Time, html } from '../lib/ui.js';

const REFRESH_MS = 3000;
// Shown in their own sections; anything else the endpoint answers is shown as JSON.
const KNOWN_DEPLOYMENT = new Set(['checked_at', 'services', 'queues', 'workers', 'runs_in_flight',
  'ingest_backlog', 'migrations_pending']);

function Missing({ reason }) {
  return html`<p class="muted">Not known${reason ? `: ${reason}` : '.'}</p>`;
}

function Runs({ runs, reason }) {
  if (!runs) return html`<${Missing} reason=${reason} />`;
  const total = Object.values(runs).reduce((sum, count) => sum + count, 0);
  return html`<table data-testid="runs-by-status">
    <thead><tr><th>Status</th><th class="num">Runs</th></tr></thead>
    <tbody>${Object.entries(runs).map(([name, count]) => html`<tr key=${name}>
      <td><${Status} value=${name} /></td><td class="num" data-testid=${`runs-${name}`}>${count}</td>
    </tr>`)}
    <tr><td><strong>total</strong></td><td class="num"><strong>${total}</strong></td></tr></tbody>
  </table>`;
}

function Services({ services }) {
  return html`<table data-testid="services">
    <thead><tr><th>Service</th><th>State</th><th>Problem</th></tr></thead>
    <tbody>${Object.entries(services || {}).map(([name, state]) => html`<tr key=${name}>
      <td>${name}</td>
      <td><${Status} value=${state.ok ? 'ok' : 'unreachable'} /></td>
      <td>${state.error || html`<span class="muted">—</span>`}</td>
    </tr>`)}</tbody>
  </table>`;
}

function Queues({ queues, reason }) {
  if (!queues) return html`<${Missing} reason=${reason} />`;
  return html`<table data-testid="queues">
    <thead><tr><th>Queue</th><th class="num">Tasks waiting</th></tr></thead>
    <tbody>${Object.entries(queues).map(([name, depth]) => html`<tr key=${name}>
      <td><code>${name}</code></td>
      <td class="num">${depth === null ? html`<span class="muted">not declared yet</span>` : depth}</td>
    </tr>`)}</tbody>
  </table>`;
}

function InFlight({ processes, reason }) {
  if (!processes) return html`<${Missing} reason=${reason} />`;
  if (processes.length === 0) return html`<p class="muted">No runs worker is running a run.</p>`;
  return html`<table data-testid="in-flight">
    <thead><tr><th>Runs worker process</th><th class="num">In flight</th><th class="num">Capacity</th></tr></thead>
    <tbody>${processes.map((row) => html`<tr key=${row.process}>
      <td><code>${row.process}</code></td><td class="num">${row.in_flight}</td>
      <td class="num">${row.capacity}</td></tr>`)}</tbody>
  </table>`;
}

function Report({ status }) {
  const deployment = status.deployment || {};
  const errors = status.errors || {};
  const extra = Object.fromEntries(Object.entries(deployment)
    .filter(([key]) => !KNOWN_DEPLOYMENT.has(key)));
  const pending = deployment.migrations_pending;
  return html`<div data-testid="status-report">
    <div class=${status.healthy ? 'ok-box' : 'error-box'} data-testid="healthy">
      ${status.healthy ? 'The deployment is healthy.' : 'The deployment is not healthy: see below.'}
      <span class="muted"> Facts read <${Time} unix=${deployment.checked_at} />.</span>
    </div>
    <div class="grid2">
      <div class="card"><h2>Your project's runs</h2>
        <p class="muted">Project <code>${status.project?.id}</code></p>
        <${Runs} runs=${status.project?.runs} reason=${errors['project.runs']} /></div>
      <div class="card"><h2>Services</h2><${Services} services=${deployment.services} />
        <h3>Migrations</h3>
        ${pending === null || pending === undefined
          ? html`<${Missing} reason=${errors['deployment.migrations_pending']} />`
          : pending.length === 0 ? html`<p>All applied.</p>`
            : html`<p>Pending: ${pending.map((name) => html`<span class="tag">${name}</span>`)}</p>`}
        <h3>Ingest backlog</h3>
        ${deployment.ingest_backlog === null || deployment.ingest_backlog === undefined
          ? html`<${Missing} reason=${errors['deployment.ingest_backlog']} />`
          : html`<p data-testid="ingest-backlog">${deployment.ingest_backlog} vector store file(s) waiting to be indexed.</p>`}
      </div>
    </div>
    <div class="grid3">
      <div class="card"><h2>Queues</h2>
        <${Queues} queues=${deployment.queues} reason=${errors['deployment.queues']} /></div>
      <div class="card"><h2>Workers</h2>
        ${deployment.workers
          ? deployment.workers.length === 0 ? html`<p class="muted">No worker answered.</p>`
            : html`<ul data-testid="workers">${deployment.workers.map((name) => html`<li key=${name}><code>${name}</code></li>`)}</ul>`
          : html`<${Missing} reason=${errors['deployment.workers']} />`}</div>
      <div class="card"><h2>Runs in flight</h2>
        <${InFlight} processes=${deployment.runs_in_flight}
          reason=${errors['deployment.runs_in_flight']} /></div>
    </div>
    ${Object.keys(extra).length > 0 && html`<div class="card"><h2>Other facts</h2>
      <${Json} value=${extra} /></div>`}
  </div>`;
}

export default function StatusPage() {
  const [status, setStatus] = useState(null);
  const [error, setError] = useState(null);
  const [updated, setUpdated] = useState(null);

  useEffect(() => {
    let live = true;
    let timer;
    const load = async () => {
      try {
        const answer = await api('/v1/status');
        if (!live) return;
        setStatus(answer);
        setError(null);
        setUpdated(Date.now() / 1000);
      } catch (failure) {
        if (live) setError(failure);
      }
      if (live) timer = setTimeout(load, REFRESH_MS);
    };
    load();
    return () => { live = false; clearTimeout(timer); };
  }, []);

  let body;
  if (status && typeof status === 'object' && status.deployment) body = html`<${Report} status=${status} />`;
  else if (status) body = html`<p class="muted">An answer this console does not know:</p><${Json} value=${status} />`;
  else if (!error) body = html`<${Loading} />`;
  return html`<section>
    <div class="page-head">
      <div><h1>Status</h1>
        <p class="sub">Refreshed every ${REFRESH_MS / 1000} s${updated
          ? html`; last answer <${Time} unix=${updated} />` : ''}.</p></div>
    </div>
    <${ErrorBox} error=${error} title="The status could not be read:" />
    ${body}
  </section>`;
}
