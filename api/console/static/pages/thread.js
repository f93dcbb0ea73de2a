// One thread as a conversation: its messages, and beside them every run with its status,
// timings, usage, errors and steps. Runs not ended when the page opens are followed live on
// the events extension; the playground starts streamed runs, answers requires_action and
// cancels.
import { useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import { api, listAll, listPage, upload } from '../lib/api.js';
import { FileLink, MessageContent, addStylesheet } from '../lib/content.js';
import { Conversation } from '../lib/conversation.js';
import { Step } from '../lib/steps.js';
import { eventIdAfter, followRun, isTerminal, openStream } from '../lib/stream.js';
import { ErrorBox, Json, Link, Loading, Progress, Time, html } from '../lib/ui.js';

addStylesheet('/console/static/thread.css');

const SEARCH_CONTENT = 'step_details.tool_calls[*].file_search.results[*].content';
const RUNS_PAGE = 10;
const WATCH_MS = 4000;

function threadPath(threadId, rest = '') {
  return `/v1/threads/${encodeURIComponent(threadId)}${rest}`;
}

function seconds(from, to) {
  return from && to ? `${to - from} s` : null;
}

// ---------------------------------------------------------------- messages

function Attachments({ attachments }) {
  if (!attachments?.length) return null;
  return html`<div class="attachments" data-testid="message-attachments">
    ${attachments.map((attachment) => html`<span class="tag">
      <${FileLink} fileId=${attachment.file_id} />
      ${(attachment.tools || []).map((tool) => ` · ${tool.type}`)}
    </span>`)}
  </div>`;
}

function Message({ message }) {
  const writing = message.status === 'in_progress';
  return html`<article class=${`message message-${message.role}`} data-testid="message"
      data-message-id=${message.id} data-role=${message.role} data-status=${message.status}>
    <header>
      <strong>${message.role}</strong>
      <span class="muted"> <${Time} unix=${message.created_at} /> · <code>${message.id}</code></span>
      ${message.run_id && html`<a class="run-chip" href=${`#${message.run_id}`}
        data-testid="message-run">${message.run_id}</a>`}
      ${message.status && message.status !== 'completed'
        && html`<span class=${`status status-${message.status}`}>${message.status}</span>`}
    </header>
    <${MessageContent} content=${message.content} />
    ${writing && html`<span class="caret" aria-hidden="true"></span>`}
    ${message.incomplete_details && html`<div class="muted">${
      `incomplete: ${message.incomplete_details.reason}`}</div>`}
    <${Attachments} attachments=${message.attachments} />
  </article>`;
}

// ---------------------------------------------------------------- runs

function Usage({ usage }) {
  if (!usage) return html`<span class="muted">—</span>`;
  const { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total } = usage;
  return html`<span data-testid="run-usage">${`${prompt} prompt + ${completion} completion = ${
    total} tokens`}</span>`;
}

function ToolCallForm({ call, answered, onAnswer, remaining }) {
  const [output, setOutput] = useState('');
  const submit = (event) => {
    event.preventDefault();
    onAnswer(call.id, output);
  };
  let args = call.function?.arguments ?? '';
  try { args = JSON.stringify(JSON.parse(args), null, 2); } catch { /* shown as sent */ }
  return html`<form class="tool-form" data-testid="tool-output-form" data-call-id=${call.id}
      onSubmit=${submit}>
    <div><strong>${call.function?.name}</strong> <span class="muted">${call.id}</span></div>
    <pre class="json" data-testid="tool-call-arguments">${args}</pre>
    <label>Output
      <textarea rows="3" data-testid="tool-output" value=${output} disabled=${answered}
        onInput=${(event) => setOutput(event.target.value)}></textarea></label>
    <button type="submit" data-testid="tool-output-submit" disabled=${answered}>
      ${answered ? 'Answered' : remaining > 1 ? 'Answer' : 'Submit outputs'}</button>
  </form>`;
}

// One form per tool call; the outputs go together, as submit_tool_outputs takes them.
function RequiredAction({ run, onSubmit }) {
  const calls = run.required_action?.submit_tool_outputs?.tool_calls || [];
  const [outputs, setOutputs] = useState({});
  const [error, setError] = useState(null);
  const answer = async (callId, output) => {
    const next = { ...outputs, [callId]: output };
    setOutputs(next);
    if (calls.every((call) => call.id in next)) {
      setError(null);
      try {
        await onSubmit(calls.map((call) => ({ tool_call_id: call.id, output: next[call.id] })));
      } catch (failure) {
        setError(failure);
        setOutputs({});
      }
    }
  };
  const remaining = calls.filter((call) => !(call.id in outputs)).length;
  return html`<div class="required-action" data-testid="required-action">
    <div><strong>Requires action:</strong> answer ${calls.length} tool
      call${calls.length === 1 ? '' : 's'}; the run goes on when all are answered.</div>
    ${calls.map((call) => html`<${ToolCallForm} key=${call.id} call=${call}
      answered=${call.id in outputs} remaining=${remaining} onAnswer=${answer} />`)}
    <${ErrorBox} error=${error} />
  </div>`;
}

function RunCard({ run, steps, connection, onCancel, onSubmitOutputs }) {
  const [error, setError] = useState(null);
  const ended = isTerminal(run.status);
  const endedAt = run.completed_at || run.failed_at || run.cancelled_at;
  const cancel = async () => {
    setError(null);
    try { await onCancel(run.id); } catch (failure) { setError(failure); }
  };
  return html`<section class="card run" id=${run.id} data-testid="run" data-run-id=${run.id}
      data-status=${run.status}>
    <div class="run-head">
      <span class=${`status status-${run.status}`} data-testid="run-status">${run.status}</span>
      <code>${run.id}</code>
      ${connection === 'open' && html`<span class="live" data-testid="run-live">live</span>`}
      ${connection === 'reconnecting'
        && html`<span class="live reconnecting" data-testid="run-reconnecting">reconnecting…</span>`}
      ${!ended && run.status !== 'cancelling' && html`<button class="danger small"
        data-testid="run-cancel" onClick=${cancel}>Cancel</button>`}
    </div>
    <dl class="facts">
      <dt>model</dt><dd data-testid="run-model">${run.model}</dd>
      <dt>assistant</dt><dd><${Link} href=${`/console/assistants/${run.assistant_id}`}>
        <code>${run.assistant_id}</code></${Link}></dd>
      <dt>created</dt><dd><${Time} unix=${run.created_at} /></dd>
      <dt>started</dt><dd><${Time} unix=${run.started_at} />${
        seconds(run.created_at, run.started_at) && html` <span class="muted">${
          `(queued ${seconds(run.created_at, run.started_at)})`}</span>`}</dd>
      <dt>${run.status === 'failed' ? 'failed' : run.status === 'cancelled' ? 'cancelled'
        : 'completed'}</dt>
      <dd data-testid="run-ended"><${Time} unix=${endedAt} />${seconds(run.started_at, endedAt)
        && html` <span class="muted">${`(ran ${seconds(run.started_at, endedAt)})`}</span>`}</dd>
      ${!ended && run.expires_at && html`<dt>expires</dt><dd><${Time} unix=${run.expires_at} /></dd>`}
      <dt>usage</dt><dd><${Usage} usage=${run.usage} /></dd>
      ${run.tools?.length > 0 && html`<dt>tools</dt><dd>${run.tools.map((tool) => html`
        <span class="tag">${tool.type === 'function' ? tool.function?.name : tool.type}</span>`)}</dd>`}
    </dl>
    ${run.last_error && html`<div class="error-box" data-testid="run-error">
      <strong>${run.last_error.code}</strong>: ${run.last_error.message}</div>`}
    ${run.incomplete_details && html`<div class="notice" data-testid="run-incomplete">${
      `incomplete: ${run.incomplete_details.reason}`}</div>`}
    <${ErrorBox} error=${error} />
    ${run.status === 'requires_action' && html`<${RequiredAction} key=${
      run.required_action?.submit_tool_outputs?.tool_calls?.map((call) => call.id).join()}
      run=${run} onSubmit=${(outputs) => onSubmitOutputs(run.id, outputs)} />`}
    <details open=${!ended || steps.length <= 4}>
      <summary data-testid="run-steps-toggle">${steps.length} step${
        steps.length === 1 ? '' : 's'}</summary>
      <ol class="steps">${steps.map((step) => html`<${Step} key=${step.id} step=${step} />`)}</ol>
    </details>
  </section>`;
}

// ---------------------------------------------------------------- playground

function draftKey(threadId) {
  return `treadle.playground.${threadId}`;
}

function loadDraft(threadId) {
  try {
    return JSON.parse(sessionStorage.getItem(draftKey(threadId))) || {};
  } catch {
    return {};
  }
}

function defaultTools(name) {
  return /\.(csv|tsv|xlsx?|json|png|jpe?g|gif|zip|py)$/i.test(name)
    ? ['code_interpreter'] : ['file_search'];
}

function AttachmentChoice({ item, onChange, onRemove }) {
  const toggle = (tool) => onChange({ ...item, tools: item.tools.includes(tool)
    ? item.tools.filter((t) => t !== tool) : [...item.tools, tool] });
  return html`<li class="attachment-choice" data-testid="playground-attachment">
    <code>${item.file.name}</code>
    ${['code_interpreter', 'file_search'].map((tool) => html`<label class="inline">
      <input type="checkbox" checked=${item.tools.includes(tool)}
        data-testid=${`attachment-${tool}`} onChange=${() => toggle(tool)} />${tool}</label>`)}
    ${item.progress !== null && html`<${Progress} fraction=${item.progress} />`}
    <button type="button" class="secondary small" data-testid="attachment-remove"
      onClick=${onRemove}>Remove</button>
  </li>`;
}

function Playground({ threadId, busy, onRun, onAdded }) {
  const draft = useMemo(() => loadDraft(threadId), [threadId]);
  const [assistants, setAssistants] = useState(null);
  const [assistantId, setAssistantId] = useState(draft.assistant_id || '');
  const [text, setText] = useState(draft.text || '');
  const [instructions, setInstructions] = useState(draft.additional_instructions || '');
  const [files, setFiles] = useState([]);
  const [error, setError] = useState(null);
  const [sending, setSending] = useState(false);

  useEffect(() => {
    listAll('/v1/assistants', { max: 500 }).then((list) => {
      setAssistants(list);
      if (!list.some((assistant) => assistant.id === assistantId) && list.length) {
        setAssistantId(list[0].id);
      }
    }, setError);
  }, []);
  useEffect(() => {
    // The draft outlives a reload of the page (this browser session only).
    sessionStorage.setItem(draftKey(threadId), JSON.stringify(
      { assistant_id: assistantId, text, additional_instructions: instructions }));
  }, [threadId, assistantId, text, instructions]);

  const choose = (event) => {
    const chosen = [...event.target.files].map((file) => (
      { file, tools: defaultTools(file.name), progress: null }));
    setFiles((before) => [...before, ...chosen]);
    event.target.value = '';
  };

  const addMessage = async () => {
    const attachments = [];
    for (let index = 0; index < files.length; index += 1) {
      const item = files[index];
      const form = new FormData();
      form.append('purpose', 'assistants');
      form.append('file', item.file, item.file.name);
      const uploaded = await upload('/v1/files', form, (fraction) => setFiles((before) => (
        before.map((other, at) => (at === index ? { ...other, progress: fraction } : other)))));
      attachments.push({ file_id: uploaded.id, tools: item.tools.map((type) => ({ type })) });
    }
    const message = await api(threadPath(threadId, '/messages'), { method: 'POST',
      body: { role: 'user', content: text, ...(attachments.length ? { attachments } : {}) } });
    setText('');
    setFiles([]);
    onAdded(message);
  };

  const act = (withRun) => async (event) => {
    event.preventDefault();
    setError(null);
    setSending(true);
    try {
      if (text.trim() || files.length) await addMessage();
      if (withRun) {
        if (!assistantId) throw new Error('Pick an assistant to run.');
        await onRun({ assistant_id: assistantId, stream: true,
          ...(instructions.trim() ? { additional_instructions: instructions } : {}) });
      }
    } catch (failure) {
      setError(failure);
    } finally {
      setSending(false);
    }
  };

  return html`<form class="card playground" data-testid="playground" onSubmit=${act(true)}>
    <h2>Playground</h2>
    <label>Assistant
      ${assistants === null ? html`<${Loading} />` : html`<select data-testid="playground-assistant"
        value=${assistantId} onChange=${(event) => setAssistantId(event.target.value)}>
        ${assistants.length === 0 && html`<option value="">No assistants: create one first</option>`}
        ${assistants.map((assistant) => html`<option value=${assistant.id}>
          ${assistant.name || '(unnamed)'} · ${assistant.model} · ${assistant.id}</option>`)}
      </select>`}
    </label>
    <label>Message
      <textarea class="prose" rows="4" data-testid="playground-message" value=${text}
        placeholder="Write a message; leave empty to run on the thread as it is."
        onInput=${(event) => setText(event.target.value)}></textarea></label>
    <label>Attach files <span class="hint">(uploaded with purpose "assistants")</span>
      <input type="file" multiple data-testid="playground-files" onChange=${choose} /></label>
    ${files.length > 0 && html`<ul class="attachment-choices">${files.map((item, index) => html`
      <${AttachmentChoice} item=${item}
        onChange=${(changed) => setFiles(files.map((other, at) => (at === index ? changed : other)))}
        onRemove=${() => setFiles(files.filter((_, at) => at !== index))} />`)}</ul>`}
    <details>
      <summary data-testid="playground-options">Run options</summary>
      <label>Additional instructions
        <textarea rows="2" data-testid="playground-instructions" value=${instructions}
          onInput=${(event) => setInstructions(event.target.value)}></textarea></label>
    </details>
    <${ErrorBox} error=${error} />
    <div class="form-actions">
      <button type="submit" data-testid="playground-run"
        disabled=${sending || busy || assistants === null}>
        ${busy ? 'A run is going on…' : 'Send and run'}</button>
      <button type="button" class="secondary" data-testid="playground-add"
        disabled=${sending || !(text.trim() || files.length)} onClick=${act(false)}>
        Add message only</button>
    </div>
  </form>`;
}

// ---------------------------------------------------------------- the page

export default function ThreadPage({ params }) {
  const threadId = params.id;
  const store = useRef(null);
  if (!store.current) store.current = new Conversation();
  const conversation = store.current;
  const [, bump] = useReducer((n) => n + 1, 0);
  const [thread, setThread] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [streamError, setStreamError] = useState(null);
  const [runsMore, setRunsMore] = useState({ more: false, after: null });
  const followers = useRef(new Map());
  const connections = useRef(new Map());

  const loadSteps = async (runId) => {
    const steps = await listAll(threadPath(threadId, `/runs/${runId}/steps`),
      { order: 'asc', 'include[]': SEARCH_CONTENT });
    conversation.setSteps(runId, steps);
  };

  // A run that ended: its stored state, which a reload would show too.
  const settle = async (runId, resume = false) => {
    try {
      const [run, messages] = await Promise.all([
        api(threadPath(threadId, `/runs/${runId}`)),
        listAll(threadPath(threadId, '/messages'), { order: 'asc' }),
        loadSteps(runId),
      ]);
      conversation.upsertRun(run);
      conversation.setMessages(messages);
      if (resume && !isTerminal(run.status)) follow(runId);
    } catch (failure) {
      setStreamError(failure);
    }
    bump();
  };

  // Follows a run's events into the page: `open` is a streamed POST (which may create the
  // run), otherwise the events extension from the last event this page applied.
  const follow = (runId, open = null, onFailure = setStreamError) => {
    const started = runId || 'new';
    followers.current.get(started)?.abort();
    const controller = new AbortController();
    followers.current.set(started, controller);
    let current = runId;
    return followRun({
      threadId,
      runId,
      after: runId ? conversation.cursors.get(runId) || '' : '',
      open: open && (() => open(controller.signal)),
      signal: controller.signal,
      onEvent: (event) => {
        if (controller.signal.aborted) return;
        if (event.data?.object === 'thread.run' && current !== event.data.id) {
          current = event.data.id;
          connections.current.set(current, connections.current.get(started));
          connections.current.delete(started);
          followers.current.delete(started);
          followers.current.get(current)?.abort();
          followers.current.set(current, controller);
        }
        if (current && event.id) {
          // Each event once, whichever follower of the run brought it first.
          const applied = conversation.cursors.get(current);
          if (applied && !eventIdAfter(event.id, applied)) return;
          conversation.cursors.set(current, event.id);
        }
        conversation.apply(event);
        bump();
      },
      onConnection: (state) => {
        if (followers.current.get(current || started) !== controller) return;
        connections.current.set(current || started, state);
        bump();
      },
    }).then(
      () => (!controller.signal.aborted && current ? settle(current) : null),
      (failure) => {
        if (controller.signal.aborted) return null;
        onFailure(failure);
        // A refused POST leaves the run as it was: follow it on the events extension again.
        return current ? settle(current, open !== null) : null;
      },
    ).finally(() => {
      if (followers.current.get(current || started) === controller) {
        followers.current.delete(current || started);
      }
    });
  };

  useEffect(() => {
    let live = true;
    (async () => {
      try {
        const [found, messages, runs] = await Promise.all([
          api(threadPath(threadId)),
          listAll(threadPath(threadId, '/messages'), { order: 'asc' }),
          listPage(threadPath(threadId, '/runs'), { limit: RUNS_PAGE }),
        ]);
        await Promise.all(runs.data.map((run) => loadSteps(run.id)));
        if (!live) return;
        conversation.setMessages(messages);
        runs.data.forEach((run) => conversation.upsertRun(run));
        setRunsMore({ more: runs.has_more, after: runs.last_id });
        setThread(found);
        for (const run of runs.data) if (!isTerminal(run.status)) follow(run.id);
      } catch (failure) {
        if (live) setLoadError(failure);
      }
    })();
    return () => {
      live = false;
      for (const controller of followers.current.values()) controller.abort();
    };
  }, [threadId]);

  // What others do on the thread meanwhile (a run started by another client, a message
  // added): looked for every few seconds while the page is shown.
  useEffect(() => {
    if (!thread) return undefined;
    const timer = setInterval(async () => {
      if (document.hidden || followers.current.has('new')) return;
      try {
        const [runs, messages] = await Promise.all([
          listPage(threadPath(threadId, '/runs'), { limit: 5 }),
          listPage(threadPath(threadId, '/messages'), { limit: 20 }),
        ]);
        let changed = false;
        for (const message of [...messages.data].reverse()) {
          if (!conversation.messages.has(message.id)) {
            conversation.upsertMessage(message);
            changed = true;
          }
        }
        for (const run of [...runs.data].reverse()) {
          if (conversation.runs.has(run.id) || followers.current.has('new')) continue;
          await loadSteps(run.id);
          conversation.upsertRun(run);
          changed = true;
          if (!isTerminal(run.status)) follow(run.id);
        }
        if (changed) bump();
      } catch {
        // The next round tries again; a lasting failure shows on the next action.
      }
    }, WATCH_MS);
    return () => clearInterval(timer);
  }, [thread]);

  if (loadError) return html`<${ErrorBox} title="This thread could not be loaded:" error=${loadError} />`;
  if (!thread) return html`<${Loading} />`;

  const runs = conversation.runList();
  const messages = conversation.messageList();
  const busy = runs.some((run) => !isTerminal(run.status));

  // A streamed POST followed into the page. Resolves once the API accepted it (its stream is
  // open), so that a refusal (say, another run is active) is told where the user acted.
  const streamed = (runId, path, body) => new Promise((resolve, reject) => {
    setStreamError(null);
    let opened = false;
    const open = async (signal) => {
      const response = await openStream(path, { method: 'POST', body, signal });
      opened = response.ok;
      if (opened) resolve();
      return response;
    };
    follow(runId, open, (failure) => (opened ? setStreamError(failure) : reject(failure)));
  });

  const startRun = (body) => streamed(null,
    `${threadPath(threadId, '/runs')}?include[]=${encodeURIComponent(SEARCH_CONTENT)}`, body);

  const submitOutputs = (runId, outputs) => streamed(runId,
    threadPath(threadId, `/runs/${runId}/submit_tool_outputs`),
    { tool_outputs: outputs, stream: true });

  const cancelRun = async (runId) => {
    const run = await api(threadPath(threadId, `/runs/${runId}/cancel`), { method: 'POST' });
    conversation.upsertRun(run);
    bump();
  };

  const moreRuns = async () => {
    try {
      const page = await listPage(threadPath(threadId, '/runs'),
        { limit: RUNS_PAGE, after: runsMore.after });
      await Promise.all(page.data.map((run) => loadSteps(run.id)));
      page.data.forEach((run) => conversation.upsertRun(run));
      setRunsMore({ more: page.has_more, after: page.last_id });
    } catch (failure) {
      setStreamError(failure);
    }
  };

  return html`<section class="thread-page" data-testid="thread-page" data-thread-id=${threadId}>
    <div class="page-head">
      <div>
        <div class="crumbs"><${Link} href="/console/threads">Threads</${Link}> /</div>
        <h1><code>${thread.id}</code></h1>
        <p class="sub">created <${Time} unix=${thread.created_at} /></p>
      </div>
    </div>
    ${(Object.keys(thread.metadata || {}).length > 0
      || Object.keys(thread.tool_resources || {}).length > 0) && html`<details class="card">
      <summary data-testid="thread-details">Metadata and tool resources</summary>
      <${Json} value=${{ metadata: thread.metadata, tool_resources: thread.tool_resources }} />
    </details>`}
    <${ErrorBox} title="Stream:" error=${streamError} />
    ${conversation.errors.map((error) => html`<${ErrorBox} title="The run's stream reported:"
      error=${error} />`)}
    <div class="thread-columns">
      <div class="conversation" data-testid="conversation">
        <h2>Conversation</h2>
        ${messages.length === 0 && html`<p class="muted" data-testid="empty">No messages yet.</p>`}
        ${messages.map((message) => html`<${Message} key=${message.id} message=${message} />`)}
        <${Playground} threadId=${threadId} busy=${busy} onRun=${startRun}
          onAdded=${(message) => { conversation.upsertMessage(message); bump(); }} />
      </div>
      <div class="runs" data-testid="runs">
        <h2>Runs</h2>
        ${runs.length === 0 && html`<p class="muted">No runs yet.</p>`}
        ${runs.map((run) => html`<${RunCard} key=${run.id} run=${run}
          steps=${conversation.stepsOf(run.id)} connection=${connections.current.get(run.id)}
          onCancel=${cancelRun} onSubmitOutputs=${submitOutputs} />`)}
        ${runsMore.more && html`<button class="secondary" data-testid="runs-more"
          onClick=${moreRuns}>Older runs</button>`}
      </div>
    </div>
  </section>`;
}
