// A message's content parts as the API gives them: text with its citations linked to the
// cited files, images drawn from image_file parts, and any part type this console does not
// know as raw JSON, so a new type never breaks the page.
import { useEffect, useState } from 'preact/hooks';
import { api, apiBlob } from './api.js';
import { Json, html } from './ui.js';

// A stylesheet of one of the console's own files, added once (pages bring their own rules).
export function addStylesheet(href) {
  if (document.querySelector(`link[rel="stylesheet"][href="${href}"]`)) return;
  const link = document.createElement('link');
  link.rel = 'stylesheet';
  link.href = href;
  document.head.append(link);
}

// One look-up per file for the page's life: a thread cites the same few files again and again.
const names = new Map();
const images = new Map();

export function fileName(fileId) {
  if (!names.has(fileId)) {
    names.set(fileId, api(`/v1/files/${encodeURIComponent(fileId)}`).then(
      (file) => file.filename,
      () => null,
    ));
  }
  return names.get(fileId);
}

export function useFileName(fileId) {
  const [name, setName] = useState(null);
  useEffect(() => {
    let live = true;
    if (fileId) fileName(fileId).then((found) => live && setName(found));
    return () => { live = false; };
  }, [fileId]);
  return name;
}

function imageUrl(fileId) {
  if (!images.has(fileId)) {
    const url = apiBlob(`/v1/files/${encodeURIComponent(fileId)}/content`)
      .then((blob) => URL.createObjectURL(blob));
    // A failed download is not kept: the next render tries again.
    url.catch(() => images.delete(fileId));
    images.set(fileId, url);
  }
  return images.get(fileId);
}

export async function download(fileId) {
  const [blob, name] = await Promise.all([
    apiBlob(`/v1/files/${encodeURIComponent(fileId)}/content`), fileName(fileId)]);
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name || fileId;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// A link that downloads a file of the API (with the key, so not a plain href).
export function FileLink({ fileId, label, testid = 'file-link', title }) {
  const name = useFileName(fileId);
  const [error, setError] = useState(null);
  const onClick = (event) => {
    event.preventDefault();
    setError(null);
    download(fileId).catch(setError);
  };
  return html`<a href="#" class="file-link" data-testid=${testid} data-file-id=${fileId}
      title=${error ? error.message : title || `Download ${name || fileId}`} onClick=${onClick}>
    ${label ?? (name || fileId)}${error && html` <span class="error-inline">(${error.message})</span>`}
  </a>`;
}

export function FileImage({ fileId, testid = 'image' }) {
  const [state, setState] = useState({ url: null, error: null });
  useEffect(() => {
    let live = true;
    imageUrl(fileId).then((url) => live && setState({ url, error: null }),
      (error) => live && setState({ url: null, error }));
    return () => { live = false; };
  }, [fileId]);
  if (state.error) {
    return html`<div class="image-missing" data-testid=${`${testid}-error`}>
      Image ${fileId}: ${state.error.message}</div>`;
  }
  if (!state.url) return html`<div class="image-loading muted">Loading image ${fileId}…</div>`;
  return html`<figure class="content-image">
    <img src=${state.url} alt=${`Image ${fileId}`} data-testid=${testid} data-file-id=${fileId} />
    <figcaption><${FileLink} fileId=${fileId} testid=${`${testid}-download`} /></figcaption>
  </figure>`;
}

function citedFile(annotation) {
  if (annotation.type === 'file_citation') return annotation.file_citation?.file_id;
  if (annotation.type === 'file_path') return annotation.file_path?.file_id;
  return null;
}

// Annotations that can be drawn in place: in range, in order, not overlapping.
function placed(value, annotations) {
  const sorted = annotations
    .map((annotation, position) => ({ annotation, number: position + 1 }))
    .filter(({ annotation }) => Number.isInteger(annotation.start_index)
      && Number.isInteger(annotation.end_index)
      && annotation.start_index <= annotation.end_index && annotation.end_index <= value.length)
    .sort((a, b) => a.annotation.start_index - b.annotation.start_index);
  const kept = [];
  let end = 0;
  for (const item of sorted) {
    if (item.annotation.start_index >= end) {
      kept.push(item);
      end = item.annotation.end_index;
    }
  }
  return kept;
}

function Annotation({ annotation, number }) {
  const fileId = citedFile(annotation);
  if (annotation.type === 'file_path' && fileId) {
    return html`<${FileLink} fileId=${fileId} testid="file-path-link"
      title=${`${annotation.text} (download)`} />`;
  }
  if (annotation.type === 'file_citation' && fileId) {
    return html`<sup class="citation-mark"><${FileLink} fileId=${fileId} label=${`[${number}]`}
      testid="citation-mark" title=${annotation.text} /></sup>`;
  }
  return html`<span class="annotation" title=${JSON.stringify(annotation)}>${annotation.text}</span>`;
}

function Source({ annotation, number }) {
  const fileId = citedFile(annotation);
  return html`<li data-testid="citation" data-type=${annotation.type}>
    <span class="muted">[${number}]</span>${' '}
    ${fileId
    ? html`<${FileLink} fileId=${fileId} testid="citation-file" />`
    : html`<${Json} value=${annotation} />`}
    <span class="muted">${` ${annotation.type}`}${annotation.text
      && html` · <code>${annotation.text}</code>`}</span>
  </li>`;
}

export function TextPart({ text }) {
  const value = text?.value ?? '';
  const annotations = Array.isArray(text?.annotations) ? text.annotations : [];
  const pieces = [];
  let position = 0;
  for (const { annotation, number } of placed(value, annotations)) {
    pieces.push(value.slice(position, annotation.start_index));
    pieces.push(html`<${Annotation} annotation=${annotation} number=${number} />`);
    position = annotation.end_index;
  }
  pieces.push(value.slice(position));
  return html`<div class="text-part">
    <div class="text-value" data-testid="message-text">${pieces}</div>
    ${annotations.length > 0 && html`<ol class="sources" data-testid="citations">
      ${annotations.map((annotation, index) => html`
        <${Source} annotation=${annotation} number=${index + 1} />`)}
    </ol>`}
  </div>`;
}

function ImageUrlPart({ part }) {
  // Not fetched: an outside address is the user's to open, never the console's to load.
  const url = part.image_url?.url || '';
  return html`<div class="image-url" data-testid="image-url">
    Image at${' '}<a href=${url} target="_blank" rel="noreferrer noopener"
      data-testid="image-url-link">${url.slice(0, 120)}</a>
    ${part.image_url?.detail
      && html` <span class="muted">${`(detail: ${part.image_url.detail})`}</span>`}
  </div>`;
}

export function ContentPart({ part }) {
  if (part?.type === 'text' && part.text && typeof part.text === 'object') {
    return html`<${TextPart} text=${part.text} />`;
  }
  if (part?.type === 'image_file' && part.image_file?.file_id) {
    return html`<${FileImage} fileId=${part.image_file.file_id} testid="message-image" />`;
  }
  if (part?.type === 'image_url' && part.image_url) return html`<${ImageUrlPart} part=${part} />`;
  if (part?.type === 'refusal' && typeof part.refusal === 'string') {
    return html`<div class="refusal" data-testid="refusal">Refused: ${part.refusal}</div>`;
  }
  return html`<div class="raw-part" data-testid="raw-part">
    <div class="muted">Content of type <code>${String(part?.type)}</code>, shown as it came:</div>
    <${Json} value=${part} />
  </div>`;
}

export function MessageContent({ content }) {
  if (!Array.isArray(content)) return html`<${ContentPart} part=${content} />`;
  return html`<div class="message-content">
    ${content.map((part, index) => html`<${ContentPart} key=${index} part=${part} />`)}
  </div>`;
}
