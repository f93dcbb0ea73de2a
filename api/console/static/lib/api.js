// Every call the console makes goes through here: the public /v1 API with the signed-in key.
const KEY = 'treadle.key';

export function getKey() { return sessionStorage.getItem(KEY); }
export function setKey(key) { sessionStorage.setItem(KEY, key); }
export function clearKey() { sessionStorage.removeItem(KEY); }

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `The server answered ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.type = error.type ?? null;
    this.param = error.param ?? null;
    this.code = error.code ?? null;
  }
}

function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.set(name, value);
  }
  const text = params.toString();
  return text ? `${path}${path.includes('?') ? '&' : '?'}${text}` : path;
}

function headers(key) {
  const sent = { 'OpenAI-Beta': 'assistants=v2' };
  const used = key ?? getKey();
  if (used) sent.Authorization = `Bearer ${used}`;
  return sent;
}

// An ApiError from a non-2xx answer; a refused stored key also signs the page out.
export function failure(status, text, { ownKey = false } = {}) {
  let error = null;
  try { error = JSON.parse(text).error; } catch { /* not JSON: described below */ }
  if (!error || typeof error !== 'object') {
    error = { message: `The server answered ${status}${text ? `: ${text.slice(0, 300)}` : '.'}` };
  }
  if (status === 401 && !ownKey) {
    window.dispatchEvent(new CustomEvent('treadle:signed-out', { detail: error.message }));
  }
  return new ApiError(status, error);
}

async function send(path, { method = 'GET', body, query, form, key } = {}) {
  const init = { method, headers: headers(key) };
  if (form) {
    init.body = form;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(withQuery(path, query), init);
  if (!response.ok) throw failure(response.status, await response.text(), { ownKey: key != null });
  return response;
}

// JSON in, JSON out. `key` tries another key than the stored one (sign-in).
export async function api(path, options = {}) {
  const response = await send(path, options);
  return response.status === 204 ? null : response.json();
}

export async function apiBlob(path) {
  return (await send(path)).blob();
}

// A multipart upload through XMLHttpRequest, the one browser API that reports upload progress.
// onProgress(fraction) gets 0..1.
export function upload(path, formData, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', path);
    for (const [name, value] of Object.entries(headers())) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) {
        if (onProgress) onProgress(1);
        try { resolve(JSON.parse(request.responseText)); } catch (error) { reject(error); }
      } else {
        reject(failure(request.status, request.responseText));
      }
    };
    request.onerror = () => reject(new Error('The upload failed: the connection was lost.'));
    request.send(formData);
  });
}

// One page of a list endpoint, in the API's cursor paging.
export async function listPage(path, { limit = 20, after, order = 'desc', ...query } = {}) {
  const page = await api(path, { query: { limit, after, order, ...query } });
  return { data: page.data, has_more: page.has_more, last_id: page.last_id };
}

// Every item of a list endpoint (for pickers), at most `max` of them.
export async function listAll(path, { max = 1000, ...query } = {}) {
  const items = [];
  let after;
  for (;;) {
    const page = await listPage(path, { limit: 100, after, ...query });
    items.push(...page.data);
    if (!page.has_more || !page.last_id || items.length >= max) return items;
    after = page.last_id;
  }
}
