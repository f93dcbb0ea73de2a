// A run's server-sent events, read with fetch: EventSource cannot send the Authorization
// header. A stream that drops before the run ends is resumed on the events extension
// (GET /v1/threads/{thread_id}/runs/{run_id}/events) with Last-Event-ID, so nothing is
// missed and nothing is applied twice.
import { ApiError, failure, getKey } from './api.js';

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'expired', 'incomplete']);
const RETRY_MS = [500, 1000, 2000, 4000];

export function isTerminal(status) {
  return TERMINAL.has(status);
}

// The event stream interpretation of the HTML standard (9.2.6): lines end in CRLF, LF or CR,
// `:` starts a comment (the server's keep-alives), `data` lines of one event are joined with
// newlines, an event is dispatched at a blank line only when it has data, the last event id
// carries over to the events after it, and an unfinished event at the end is dropped.
export class SseParser {
  constructor() {
    this.buffer = '';
    this.data = [];
    this.type = '';
    this.lastEventId = '';
    this.retry = null;
    this.started = false;
  }

  // Feeds decoded text; returns the events it completed, as {id, event, data}.
  feed(text) {
    if (!this.started && text) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    this.buffer += text;
    const events = [];
    let start = 0;
    // The next CR and LF at or after `start` (-1: none left), each found once per pass.
    let cr = -2;
    let lf = -2;
    for (;;) {
      if (cr !== -1 && cr < start) cr = this.buffer.indexOf('\r', start);
      if (lf !== -1 && lf < start) lf = this.buffer.indexOf('\n', start);
      if (cr < 0 && lf < 0) break;
      let end;
      let next;
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        // A CR at the very end may be the first half of a CRLF split across chunks.
        if (cr === this.buffer.length - 1) break;
        end = cr;
        next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      } else {
        end = lf;
        next = lf + 1;
      }
      const event = this.line(this.buffer.slice(start, end));
      if (event) events.push(event);
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  // The end of the stream: a CR that waited for an LF ends its line after all.
  end() {
    if (!this.buffer.endsWith('\r')) return [];
    const event = this.line(this.buffer.slice(0, -1));
    this.buffer = '';
    return event ? [event] : [];
  }

  line(line) {
    if (line === '') {
      if (!this.data.length) {
        this.type = '';
        return null;
      }
      const event = { id: this.lastEventId, event: this.type || 'message', data: this.data.join('\n') };
      this.data = [];
      this.type = '';
      return event;
    }
    if (line[0] === ':') return null;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
    return null;
  }
}

// The events of one HTTP answer, as they arrive.
export async function* readEvents(response) {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      yield* parser.feed(decoder.decode(value, { stream: true }));
    }
    yield* parser.feed(decoder.decode());
    yield* parser.end();
  } finally {
    reader.releaseLock();
  }
}

// Redis stream ids ("<ms>-<seq>") in order.
export function eventIdAfter(id, cursor) {
  if (!cursor) return true;
  const [a, b] = id.split('-').map(BigInt);
  const [c, d] = cursor.split('-').map(BigInt);
  return a > c || (a === c && b > d);
}

// A streamed request of the API: POST with a JSON body and `stream: true`, or the events
// extension's GET with Last-Event-ID.
export function openStream(path, { method = 'GET', body, lastEventId, signal } = {}) {
  const headers = { Authorization: `Bearer ${getKey()}`, Accept: 'text/event-stream' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  return fetch(path, {
    method, headers, signal, cache: 'no-store',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// Follows a run until it ends (or `signal` aborts). `open` is the first request, when there is
// one (a POST with stream: true, which may also create the run); after it, and after any
// dropped connection, the events extension goes on from the last event seen. Events at or
// before `after` are skipped. `onEvent({id, event, data})` gets each event with its data
// parsed; `onConnection(state)` hears 'open', 'reconnecting' and 'closed'. Resolves with the
// last event id; rejects with an ApiError when the API refuses a request.
export async function followRun({ threadId, runId = null, open = null, after = '', onEvent,
  onConnection = () => {}, signal }) {
  let cursor = after;
  let ended = false;
  let failures = 0;
  let first = open;
  try {
    while (!ended && !signal?.aborted) {
      let received = 0;
      try {
        let response;
        if (first) {
          response = await first();
        } else {
          response = await openStream(`/v1/threads/${threadId}/runs/${runId}/events`,
            { lastEventId: cursor || undefined, signal });
        }
        first = null;
        if (!response.ok) {
          if (response.status < 500 || failures >= RETRY_MS.length) {
            throw failure(response.status, await response.text());
          }
          throw new Error(`The API answered ${response.status}.`);
        }
        onConnection('open');
        for await (const event of readEvents(response)) {
          received += 1;
          if (event.id && !eventIdAfter(event.id, cursor)) continue;
          if (event.id) cursor = event.id;
          failures = 0;
          let data = event.data;
          if (event.event !== 'done') {
            try { data = JSON.parse(event.data); } catch { data = event.data; }
          }
          if (data && data.object === 'thread.run') {
            runId = data.id;
            if (isTerminal(data.status)) ended = true;
          }
          onEvent({ id: event.id, event: event.event, data });
        }
        // A stream that ends with the run waiting (requires_action) goes on on the events
        // extension at once; one that closed with nothing new is retried after a pause.
        if (ended || received) continue;
      } catch (error) {
        if (signal?.aborted) break;
        if (error instanceof ApiError || !runId) throw error;
      }
      // A dropped connection (or a 5xx on the way): wait a little, then resume.
      first = null;
      onConnection('reconnecting');
      await sleep(RETRY_MS[Math.min(failures, RETRY_MS.length - 1)], signal);
      failures += 1;
    }
  } finally {
    onConnection('closed');
  }
  return cursor;
}
