"""`/docs` works on a host with no way out: the page and every file it loads come from the
API itself (Swagger UI's files from the pinned package), none from a CDN."""
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

# url(...) in a style sheet: images and fonts it would fetch.
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)")


class _References(HTMLParser):
    """Every src and href of the page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


def references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.found


def same_origin(url: str, base: str) -> bool:
    return urlsplit(url)[:2] == urlsplit(base)[:2]


def test_docs_and_every_asset_it_loads_are_served_here(api_base: str) -> None:
    page = httpx.get(f"{api_base}/docs", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assets = [urljoin(f"{api_base}/docs", ref) for ref in references(page.text)]
    assert len(assets) >= 3, assets  # the style sheet, the bundle and its preset
    # The page's script fetches the OpenAPI document named in its config.
    spec_urls = re.findall(r'url:\s*"([^"]+)"', page.text)
    assert spec_urls, page.text
    assets += [urljoin(f"{api_base}/docs", url) for url in spec_urls]
    # No online validator badge (an image from validator.swagger.io otherwise).
    assert '"validatorUrl": null' in page.text
    for asset in assets:
        assert same_origin(asset, api_base), asset
        answer = httpx.get(asset, timeout=10)
        assert answer.status_code == 200, (asset, answer.status_code)
        if asset.endswith(".css"):
            for url in CSS_URL.findall(answer.text):
                assert url.startswith("data:") or same_origin(urljoin(asset, url), api_base), url
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets), assets
    assert httpx.get(spec_urls[0] if "://" in spec_urls[0] else f"{api_base}{spec_urls[0]}",
                     timeout=10).json()["info"]["title"] == "Treadle"


def test_the_assets_are_cached_by_version_and_unknown_ones_are_404(api_base: str) -> None:
    page = httpx.get(f"{api_base}/docs", timeout=10).text
    bundle = next(urljoin(f"{api_base}/docs", ref) for ref in references(page)
                  if ref.endswith("swagger-ui-bundle.js"))
    answer = httpx.get(bundle, timeout=10)
    assert "max-age=31536000" in answer.headers["Cache-Control"]
    assert answer.headers["Content-Type"].split(";")[0] in ("text/javascript",
                                                            "application/javascript")
    other_version = re.sub(r"/swagger-ui/[^/]+/", "/swagger-ui/0.0.0/", bundle)
    for missing in (other_version, bundle.replace("swagger-ui-bundle.js", "nothing.js"),
                    # The package's own files beside Swagger UI's stay out of reach.
                    bundle.replace("swagger-ui-bundle.js", "..%2FLICENSE")):
        gone = httpx.get(missing, timeout=10)
        assert gone.status_code == 404, (missing, gone.status_code)
        assert gone.json()["error"]["type"] == "invalid_request_error"


def test_no_other_docs_page_loads_from_a_cdn(api_base: str) -> None:
    # flask-smorest's ReDoc and RapiDoc pages load their scripts from CDNs; neither is served.
    for path in ("/redoc", "/rapidoc"):
        assert httpx.get(f"{api_base}{path}", timeout=10).status_code == 404
