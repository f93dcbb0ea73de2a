// The sign-in gate: one field for an API key, checked against the API before it is kept for
// this browser session (sessionStorage: gone when the tab closes, kept across reloads).
import { useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { ErrorBox, html } from '../lib/ui.js';

export default function SignIn({ notice, onSignedIn }) {
  const [key, setKeyText] = useState('');
  const [error, setError] = useState(null);
  const [checking, setChecking] = useState(false);

  const submit = async (event) => {
    event.preventDefault();
    const candidate = key.trim();
    if (!candidate) {
      setError(new Error('Enter an API key.'));
      return;
    }
    setChecking(true);
    setError(null);
    try {
      await api('/v1/assistants', { query: { limit: 1 }, key: candidate });
      onSignedIn(candidate);
    } catch (failure) {
      setError(failure.status === 401
        ? new Error(`This API key was refused (wrong key, or revoked). The server said: ${failure.message}`)
        : failure);
      setChecking(false);
    }
  };

  return html`<div class="signin">
    <form class="card" onSubmit=${submit} data-testid="signin-form">
      <h1>Treadle console</h1>
      <p class="muted">Sign in with an API key. You will see that key's project only. The key is
        kept in this browser tab until you sign out or close it.</p>
      ${notice && html`<p class="notice" data-testid="notice">${notice}</p>`}
      <label for="key">API key</label>
      <input id="key" type="password" autocomplete="off" spellcheck="false" autofocus
        placeholder="sk-…" value=${key} data-testid="signin-key"
        onInput=${(event) => setKeyText(event.target.value)} />
      <${ErrorBox} error=${error} />
      <button type="submit" data-testid="signin-submit" disabled=${checking}>
        ${checking ? 'Checking…' : 'Sign in'}</button>
    </form>
  </div>`;
}
