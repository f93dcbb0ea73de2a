// The console's shell: a router on the History API under /console, the sign-in gate and the
// layout. Each page is its own module, imported when first shown, so one broken page leaves
// the rest of the console working.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { clearKey, getKey, setKey } from './lib/api.js';
import { ErrorBoundary, ErrorBox, Link, Loading, html, navigate } from './lib/ui.js';
import SignIn from './pages/signin.js';

const PREFIX = '/console';
const HOME = `${PREFIX}/assistants`;

const ROUTES = [
  { pattern: 'assistants', module: './pages/assistants.js', title: 'Assistants' },
  { pattern: 'assistants/:id', module: './pages/assistant.js', title: 'Assistant' },
  { pattern: 'threads', module: './pages/threads.js', title: 'Threads' },
  { pattern: 'threads/:id', module: './pages/thread.js', title: 'Thread' },
  { pattern: 'vector_stores', module: './pages/vector_stores.js', title: 'Vector stores' },
  { pattern: 'vector_stores/:id', module: './pages/vector_store.js', title: 'Vector store' },
  { pattern: 'files', module: './pages/files.js', title: 'Files' },
  { pattern: 'status', module: './pages/status.js', title: 'Status' },
];

const NAV = [
  ['assistants', 'Assistants'], ['threads', 'Threads'], ['vector_stores', 'Vector stores'],
  ['files', 'Files'], ['status', 'Status'],
];

function segments(pathname) {
  const rest = pathname.startsWith(PREFIX) ? pathname.slice(PREFIX.length) : pathname;
  return rest.split('/').filter(Boolean).map(decodeURIComponent);
}

function resolve(pathname) {
  const parts = segments(pathname);
  for (const route of ROUTES) {
    const pattern = route.pattern.split('/');
    if (pattern.length !== parts.length) continue;
    const params = {};
    const matches = pattern.every((part, index) => {
      if (part.startsWith(':')) {
        params[part.slice(1)] = parts[index];
        return true;
      }
      return part === parts[index];
    });
    if (matches) return { route, params };
  }
  return null;
}

function Page({ route, params, path }) {
  const [loaded, setLoaded] = useState({ module: null });
  useEffect(() => {
    let live = true;
    import(route.module).then(
      (module) => live && setLoaded({ module: route.module, component: module.default }),
      (error) => live && setLoaded({
        module: route.module,
        error: new Error(`The page ${route.module.slice(2)} could not be loaded: ${error.message}`),
      }),
    );
    return () => { live = false; };
  }, [route.module]);

  if (loaded.module !== route.module) return html`<${Loading} />`;
  if (loaded.error) return html`<${ErrorBox} error=${loaded.error} />`;
  if (typeof loaded.component !== 'function') {
    return html`<${ErrorBox} error=${new Error(`The page ${route.module.slice(2)} has no component.`)} />`;
  }
  const Component = loaded.component;
  return html`<${ErrorBoundary} key=${path}><${Component} params=${params} /></${ErrorBoundary}>`;
}

function masked(key) {
  return key.length > 12 ? `${key.slice(0, 6)}…${key.slice(-4)}` : '…';
}

function Layout({ path, signedInKey, onSignOut, children }) {
  const section = segments(path)[0];
  return html`<div class="layout">
    <header class="topbar">
      <${Link} class="brand" href=${HOME}>Treadle <span>console</span></${Link}>
      <nav data-testid="nav">
        ${NAV.map(([name, label]) => html`
          <${Link} href=${`${PREFIX}/${name}`} class=${section === name ? 'active' : ''}
            data-testid=${`nav-${name}`}>${label}</${Link}>`)}
        <a href="/docs" data-testid="nav-docs">API docs</a>
      </nav>
      <div class="account">
        <code title="The key this console uses">${masked(signedInKey)}</code>
        <button class="secondary" data-testid="sign-out" onClick=${onSignOut}>Sign out</button>
      </div>
    </header>
    <main>${children}</main>
  </div>`;
}

function App() {
  const [path, setPath] = useState(location.pathname);
  const [key, setKeyState] = useState(getKey());
  const [notice, setNotice] = useState(null);

  useEffect(() => {
    const onNavigate = (event) => {
      setPath(location.pathname);
      if (event.type === 'treadle:navigate') window.scrollTo(0, 0);
    };
    const onSignedOut = (event) => {
      clearKey();
      setKeyState(null);
      setNotice(`Your key was refused, so you were signed out: ${event.detail}`);
    };
    window.addEventListener('popstate', onNavigate);
    window.addEventListener('treadle:navigate', onNavigate);
    window.addEventListener('treadle:signed-out', onSignedOut);
    return () => {
      window.removeEventListener('popstate', onNavigate);
      window.removeEventListener('treadle:navigate', onNavigate);
      window.removeEventListener('treadle:signed-out', onSignedOut);
    };
  }, []);

  const parts = segments(path);
  useEffect(() => {
    if (parts.length === 0) navigate(HOME, { replace: true });
  }, [path]);

  const found = resolve(path);
  useEffect(() => {
    document.title = `${found ? found.route.title : 'Not found'} · Treadle console`;
  }, [path]);

  if (!key) {
    return html`<${SignIn} notice=${notice} onSignedIn=${(signedIn) => {
      setKey(signedIn);
      setKeyState(signedIn);
      setNotice(null);
    }} />`;
  }
  const signOut = () => {
    clearKey();
    setKeyState(null);
    setNotice('You signed out.');
  };
  let body;
  if (parts.length === 0) body = html`<${Loading} />`;
  else if (!found) {
    body = html`<${ErrorBox} error=${new Error(`There is no console page at ${path}.`)} />`;
  } else body = html`<${Page} key=${path} route=${found.route} params=${found.params} path=${path} />`;
  return html`<${Layout} path=${path} signedInKey=${key} onSignOut=${signOut}>${body}</${Layout}>`;
}

render(html`<${App} />`, document.getElementById('app'));
