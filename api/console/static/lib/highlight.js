// code_interpreter input, highlighted by the vendored highlight.js (core and its Python
// grammar only), loaded the first time a page shows code.
import { useEffect, useState } from 'preact/hooks';
import { addStylesheet } from './content.js';
import { html } from './ui.js';

let loading = null;

function highlighter() {
  if (!loading) {
    addStylesheet('/console/static/vendor/highlight/github.min.css');
    loading = Promise.all([
      import('../vendor/highlight/core.min.js'),
      import('../vendor/highlight/python.min.js'),
    ]).then(([core, python]) => {
      const hljs = core.default;
      hljs.registerLanguage('python', python.default);
      return hljs;
    });
  }
  return loading;
}

export function Code({ code, language = 'python', testid = 'code' }) {
  const [loaded, setLoaded] = useState({ hljs: null });
  useEffect(() => {
    let live = true;
    highlighter().then((hljs) => live && setLoaded({ hljs }), () => {});
    return () => { live = false; };
  }, []);
  if (!loaded.hljs) {
    return html`<pre class="code" data-testid=${testid}><code>${code}</code></pre>`;
  }
  // highlight.js escapes the code it marks up, so its HTML is safe to insert.
  const marked = loaded.hljs.highlight(code, { language, ignoreIllegals: true }).value;
  return html`<pre class="code" data-testid=${testid} data-highlighted="true"><code
    class=${`hljs language-${language}`} dangerouslySetInnerHTML=${{ __html: marked }}></code></pre>`;
}
