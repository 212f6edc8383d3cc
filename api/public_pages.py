"""Pages a candidate opens from a signed link, without an account: `/p/<token>` (issue 18).

Not under the API prefix, not in the OpenAPI document, no sign-in: the token in the path is the only key
(engine/candidate_pages/links.py: random, only its hash stored, nothing personal in the URL). The page's
kind decides what is drawn (`links.register_page`: the growth page, the new hire's goals page).

- GET `/p/<token>`: the page, server-rendered, readable without JavaScript, phone-first, in the link's
  language or the reader's choice (`?lang=zh|en`). A refused link answers one friendly bilingual page:
  unknown 404, expired or revoked 410, no consent (or erased) 410 with a neutral text.
- POST `/p/<token>`: a form of the page (the growth page's "I'd like to talk", the goals page's
  feedback). CSRF: the form carries a nonce made for that render and bound to the token
  (`links.make_nonce`): another site knows neither. A bad nonce answers 400 and does nothing.
- POST `/p/<token>/seen`: the page's optional beacon (`navigator.sendBeacon` on pagehide) with the
  seconds it was open: added to the link's view; 204.

Views: a GET counts (and may record the `growth_page_viewed` signal) only from what looks like a person's
browser: not a HEAD, not a prefetch (`Purpose`/`Sec-Purpose: prefetch`), a User-Agent starting with
"Mozilla/" that names no known link-preview fetcher or bot, and an Accept that takes HTML. WeChat's and
WeCom's in-app browsers (MicroMessenger, wxwork) count; their servers' preview fetches, crawlers, curl and
scripts do not. A preview that imitates a browser is counted: the hourly limit keeps it to one signal.

Every answer: `Cache-Control: private, no-store`, `Referrer-Policy: no-referrer`, `X-Robots-Tag: noindex,
nofollow`, a CSP that allows inline styles and the one inline beacon script (by its hash). Rate limit per
client address (PAGE_RATE); a POST body of at most MAX_BODY bytes, with its length (413 otherwise). Nothing
is logged with the token; refusals log the reason only.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import threading

from flask import Blueprint, Response, current_app, render_template, request
from markupsafe import Markup

from engine.candidate_pages import goals  # noqa: F401 - registers the goals page
from engine.candidate_pages import growth  # noqa: F401 - registers the growth page
from engine.candidate_pages import links
from engine.candidate_pages.service import CandidateLinks
from engine.ratelimit import RateLimiter, parse_rate

from .state import state

log = logging.getLogger(__name__)

public_bp = Blueprint("recall_pages", __name__, template_folder="web/templates")

PAGE_RATE = "120/minute"            # per client address, all /p/ requests together
MAX_BODY = 64 * 1024                # a page's form (2,000 CJK characters url-encoded fit) or a beacon
_LIMITER_KEY = "recall_pages.limiter"
_limiter_lock = threading.Lock()
BEACON = ("(function(){var m=document.querySelector('meta[name=recall-seen]');if(!m||!navigator.sendBeacon)return;"
          "var t0=Date.now(),sent=0;function go(){if(sent)return;sent=1;var s=Math.round((Date.now()-t0)/1000);"
          "navigator.sendBeacon(m.content,new Blob([JSON.stringify({seconds:Math.min(s,3600)})],"
          "{type:'application/json'}));}addEventListener('pagehide',go);"
          "document.addEventListener('visibilitychange',function(){if(document.visibilityState==='hidden')go();});})();")
BEACON_HASH = base64.b64encode(hashlib.sha256(BEACON.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{BEACON_HASH}'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex, nofollow", "Content-Security-Policy": CSP}
BOTS = ("bot", "spider", "crawl", "preview", "facebookexternalhit", "slurp", "whatsapp", "telegram", "skype",
        "embedly", "vkshare", "pinterest", "bitly", "curl", "wget", "python", "go-http-client", "java/",
        "okhttp", "httpclient", "headlesschrome/0", "feedfetcher", "lighthouse")
STATUS = {"unknown": 404, "wrong_kind": 404, "expired": 410, "revoked": 410, "no_consent": 410, "erased": 410}


def _limiter() -> RateLimiter | None:
    extensions = current_app.extensions
    if _LIMITER_KEY not in extensions:
        with _limiter_lock:
            if _LIMITER_KEY not in extensions:
                settings = state().settings
                rate = None if str(settings.rate_limit).strip().lower() == "off" else parse_rate(PAGE_RATE)
                extensions[_LIMITER_KEY] = rate and RateLimiter(rate, processes=settings.serve_processes)
    return extensions[_LIMITER_KEY]


@public_bp.before_request
def _rate_limit():
    if request.method == "POST" and (request.content_length is None or request.content_length > MAX_BODY):
        return _answer(render_template("recall_pages/refused.html", reason="stale_form"), 413)
    counter = _limiter()
    if counter is None:
        return None
    verdict = counter.hit(f"address:{request.remote_addr or '-'}")
    if verdict.allowed:
        return None
    return _answer(render_template("recall_pages/refused.html", reason="busy", lang="zh"), 429,
                   {"Retry-After": str(verdict.reset)})


def _answer(body, status: int = 200, more: dict | None = None) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    for name, value in {**HEADERS, **(more or {})}.items():
        response.headers[name] = value
    return response


def is_person(req) -> bool:
    """Whether a GET looks like a person's browser opening the page (see the module's docstring)."""
    if req.method != "GET":
        return False
    if "prefetch" in (req.headers.get("Purpose", "") + req.headers.get("Sec-Purpose", "")).lower():
        return False
    agent = req.headers.get("User-Agent", "")
    if not agent.startswith("Mozilla/") or any(word in agent.lower() for word in BOTS):
        return False
    accept = req.headers.get("Accept", "")
    return "text/html" in accept or "*/*" in accept


def _lang(link: links.Link) -> str:
    asked = request.args.get("lang")
    return asked if asked in links.LANGS else link.lang


def _refused(reason: str) -> Response:
    log.info("candidate page refused: %s", reason)
    return _answer(render_template("recall_pages/refused.html", reason=reason, lang="zh"), STATUS.get(reason, 404))


def _render(page: links.Page, link: links.Link, lang: str, url: str, nonce: str) -> Response:
    context = dict(page.context)
    context.update(lang=lang, other_lang="en" if lang == "zh" else "zh", url=url, nonce=nonce, kind=link.kind,
                   t=lambda text: links_text(text, lang), beacon=Markup(f"<script>{BEACON}</script>"),
                   seen_url=f"{url}/seen")
    return _answer(render_template(page.template, **context), page.status)


def links_text(text, lang: str) -> str:
    if isinstance(text, dict):
        return str(text.get(lang) or text.get("en" if lang == "zh" else "zh") or "")
    return "" if text is None else str(text)


def _request(link: links.Link, token: str, *, form=None) -> links.PageRequest:
    engine = state().engine
    now = engine.clock.now()
    return links.PageRequest(link=link, lang=_lang(link), engine=engine, url=links.URL_PREFIX + token,
                             nonce=links.make_nonce(token, now), form=dict(form or {}), now=now)


@public_bp.route("/p/<token>", methods=["GET"])
def page(token: str):
    service = CandidateLinks(state().engine)
    try:
        link = service.open(token, counted=is_person(request)).link
    except links.LinkRefused as refused:
        return _refused(refused.reason)
    registered = links.page_for(link.kind)
    if registered is None:
        return _refused("unknown")
    page_request = _request(link, token)
    page = registered.render(page_request)
    return _render(page, link, page_request.lang, page_request.url, page_request.nonce)


@public_bp.route("/p/<token>", methods=["POST"])
def post(token: str):
    engine = state().engine
    try:
        link = CandidateLinks(engine).resolve(token)
    except links.LinkRefused as refused:
        return _refused(refused.reason)
    registered = links.page_for(link.kind)
    if registered is None or registered.post is None:
        return _refused("unknown")
    form = request.form
    if not links.check_nonce(token, form.get("nonce", ""), engine.clock.now()):
        page_request = _request(link, token)
        return _answer(render_template("recall_pages/refused.html", reason="stale_form", lang=page_request.lang,
                                       url=page_request.url), 400)
    page_request = _request(link, token, form={k: form.get(k) for k in form.keys()})
    try:
        page = registered.post(page_request)
    except links.LinkRefused as refused:
        return _refused(refused.reason)
    return _render(page, link, page_request.lang, page_request.url, page_request.nonce)


@public_bp.route("/p/<token>/seen", methods=["POST"])
def seen(token: str):
    data = request.get_json(silent=True, force=True)
    seconds = data.get("seconds") if isinstance(data, dict) else None
    try:
        CandidateLinks(state().engine).seen(token, seconds)
    except links.LinkRefused as refused:
        return _answer("", STATUS.get(refused.reason, 404))
    except links.InvalidLink:
        return _answer("", 400)
    return _answer("", 204)
