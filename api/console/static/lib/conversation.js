// One thread's messages, runs and steps as the page holds them, and how a run's events change
// them: an object event (`thread.message.created`, `thread.run.step.completed`, ...) replaces
// the object, a delta is merged into it the way the openai SDK merges deltas. Replaying a
// run's events from its first therefore rebuilds what the run wrote.

function copy(value) {
  return value && typeof value === 'object' ? JSON.parse(JSON.stringify(value)) : value;
}

function mergeList(held, entries) {
  for (const entry of entries) {
    if (!entry || typeof entry !== 'object' || !('index' in entry)) held.push(copy(entry));
    else if (entry.index < held.length) accumulate(held[entry.index], entry);
    else held.splice(entry.index, 0, copy(entry));
  }
}

// `shared/runs/streamed.py` accumulate, in the browser.
export function accumulate(into, delta) {
  for (const [key, value] of Object.entries(delta)) {
    const held = into[key];
    if (held === undefined || held === null || key === 'index' || key === 'type') {
      into[key] = copy(value);
    } else if (typeof held === 'string' && typeof value === 'string') {
      into[key] = held + value;
    } else if (Array.isArray(held) && Array.isArray(value)) {
      mergeList(held, value);
    } else if (typeof held === 'object' && !Array.isArray(held) && value && typeof value === 'object'
      && !Array.isArray(value)) {
      accumulate(held, value);
    } else {
      into[key] = copy(value);
    }
  }
  return into;
}

function byCreation(items) {
  return [...items].sort((a, b) => (a.item.created_at ?? 0) - (b.item.created_at ?? 0)
    || a.order - b.order);
}

export class Conversation {
  constructor() {
    this.messages = new Map();
    this.runs = new Map();
    this.steps = new Map();
    this.cursors = new Map();
    this.arrivals = 0;
    this.errors = [];
  }

  held(map, item) {
    const before = map.get(item.id);
    map.set(item.id, { item, order: before ? before.order : (this.arrivals += 1) });
  }

  setMessages(list) {
    this.messages = new Map();
    for (const message of list) this.held(this.messages, message);
  }

  upsertMessage(message) { this.held(this.messages, message); }

  upsertRun(run) { this.held(this.runs, run); }

  setSteps(runId, list) {
    for (const [id, entry] of this.steps) {
      if (entry.item.run_id === runId) this.steps.delete(id);
    }
    for (const step of list) this.held(this.steps, step);
  }

  // Applies one event of a run's stream.
  apply({ event, data }) {
    if (event === 'thread.message.delta') {
      const held = this.messages.get(data.id);
      if (held) accumulate(held.item, data.delta || {});
    } else if (event === 'thread.run.step.delta') {
      const held = this.steps.get(data.id);
      if (held) accumulate(held.item, data.delta || {});
    } else if (event.startsWith('thread.message.') && data?.object === 'thread.message') {
      this.upsertMessage(data);
    } else if (event.startsWith('thread.run.step.') && data?.object === 'thread.run.step') {
      this.held(this.steps, data);
    } else if (event.startsWith('thread.run.') && data?.object === 'thread.run') {
      this.upsertRun(data);
    } else if (event === 'error') {
      this.errors.push(data?.error || data);
    }
  }

  messageList() {
    return byCreation(this.messages.values()).map((entry) => entry.item);
  }

  // Newest first, as the runs list answers.
  runList() {
    return byCreation(this.runs.values()).reverse().map((entry) => entry.item);
  }

  stepsOf(runId) {
    return byCreation([...this.steps.values()].filter((entry) => entry.item.run_id === runId))
      .map((entry) => entry.item);
  }
}
