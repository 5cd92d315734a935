"""The reader study's pages: server-rendered HTML, one stylesheet and one small script, no build step and
nothing from another site (the Content-Security-Policy allows this server only, and no inline script or
style). Everything that comes from data (prompts, comments, reader names) goes through `html.escape`:
a prompt holding ``<script>`` is shown as text.

The page works without its script (a form of radio buttons); the script adds the keyboard (1–5 or ←/→,
Enter, Backspace), window/level and zoom on the images, and the time on the item.
"""
from __future__ import annotations

from html import escape
from typing import Any, Sequence

from .scales import ALIGNMENT_QUESTION, REALISM_NOTE, REALISM_QUESTION, labels

STYLE = """
:root { color-scheme: dark; --bg: #111317; --panel: #1b1e24; --line: #2c313a; --text: #e3e6eb; --dim: #9aa3ad;
        --accent: #5fa8ff; --warn: #ffb35f; }
* { box-sizing: border-box; }
html, body { margin: 0; background: var(--bg); color: var(--text); font: 15px/1.45 system-ui, sans-serif; }
a { color: var(--accent); }
header { display: flex; align-items: center; gap: 1.2em; padding: .45em 1em; background: var(--panel);
         border-bottom: 1px solid var(--line); }
header .who { font-weight: 600; }
header progress { width: 14em; height: .7em; }
header .spacer { flex: 1; }
main.item { display: grid; grid-template-columns: minmax(0, 1fr) 23em; gap: 1em; padding: 1em;
            height: calc(100vh - 2.6em); }
.viewer { display: flex; gap: .6em; min-height: 0; align-items: flex-start; justify-content: center; }
.viewer figure { margin: 0; flex: 1 1 0; min-width: 0; display: flex; flex-direction: column; align-items: center; }
.frame { width: 100%; max-width: calc(100vh - 6.5em); aspect-ratio: 1 / 1; overflow: hidden; background: #000;
         border: 1px solid var(--line); cursor: crosshair; position: relative; }
.frame.panning { cursor: move; }
.frame img { width: 100%; height: 100%; display: block; filter: url(#wl); transform-origin: 0 0;
             user-select: none; -webkit-user-drag: none; image-rendering: auto; }
figcaption { color: var(--dim); margin-top: .25em; font-size: .9em; }
aside { display: flex; flex-direction: column; gap: .7em; min-height: 0; overflow-y: auto; }
h1 { font-size: 1.15em; margin: 0; }
.note, .help { color: var(--dim); font-size: .85em; margin: 0; }
blockquote.prompt { margin: 0; padding: .6em .8em; background: var(--panel); border-left: 3px solid var(--accent);
                    white-space: pre-wrap; overflow-wrap: anywhere; }
fieldset.scale { border: 1px solid var(--line); border-radius: 6px; margin: 0; padding: .4em .5em; }
fieldset.scale legend { color: var(--dim); font-size: .85em; padding: 0 .3em; }
.scale label { display: grid; grid-template-columns: 1.6em 2.2em 1fr; align-items: start; gap: .2em;
               padding: .3em .35em; border-radius: 5px; cursor: pointer; }
.scale label:hover { background: #232833; }
.scale input { margin: .25em 0 0; }
.scale label.checked { background: #1f3554; outline: 1px solid var(--accent); }
.scale .value { color: var(--dim); font-variant-numeric: tabular-nums; }
kbd { display: inline-block; min-width: 1.4em; padding: 0 .3em; border: 1px solid #4a515c; border-bottom-width: 2px;
      border-radius: 4px; font: 12px/1.5 ui-monospace, monospace; color: var(--text); text-align: center; }
textarea { width: 100%; min-height: 4.2em; background: var(--panel); color: var(--text); border: 1px solid var(--line);
           border-radius: 5px; font: inherit; padding: .3em .4em; resize: vertical; }
.tools { display: grid; grid-template-columns: auto 1fr; gap: .2em .6em; align-items: center; font-size: .85em;
         color: var(--dim); }
.tools input[type=range] { width: 100%; }
nav.buttons { display: flex; gap: .6em; align-items: center; flex-wrap: wrap; }
.button, button { background: #2a3140; color: var(--text); border: 1px solid #3b4556; border-radius: 6px;
                  padding: .45em .9em; font: inherit; cursor: pointer; text-decoration: none; }
button.primary { background: #1d4f8f; border-color: #2f6fc0; }
button:disabled { opacity: .5; cursor: default; }
.error { color: var(--warn); font-weight: 600; }
.defs { position: absolute; width: 0; height: 0; }
.page { max-width: 60em; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35em .6em; border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var form = document.getElementById("answer");
  if (!form) { return; }
  var radios = Array.prototype.slice.call(form.querySelectorAll("input[name=choice]"));
  var comment = form.querySelector("textarea[name=comment]");
  var submit = document.getElementById("save");
  var back = document.getElementById("back");
  var next = document.getElementById("next");
  var message = document.getElementById("message");
  var initial = { choice: form.dataset.choice || "", comment: comment ? comment.value : "" };
  var sent = false;

  // time on the item: counted while the page is visible
  var spent = 0, since = document.visibilityState === "visible" ? performance.now() : null;
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { since = performance.now(); }
    else if (since !== null) { spent += performance.now() - since; since = null; }
  });
  function elapsed() { return spent + (since === null ? 0 : performance.now() - since); }

  function checkedIndex() { for (var i = 0; i < radios.length; i++) { if (radios[i].checked) { return i; } } return -1; }
  function mark() {
    radios.forEach(function (r) { r.closest("label").classList.toggle("checked", r.checked); });
  }
  function choose(i) { if (i >= 0 && i < radios.length) { radios[i].checked = true; mark(); say(""); } }
  function say(text) { if (message) { message.textContent = text; } }
  radios.forEach(function (r) { r.addEventListener("change", mark); });
  mark();

  function send() {
    if (sent) { return; }
    var i = checkedIndex();
    if (i < 0) { say("Choose a rating first (keys 1–5)."); return; }
    var unchanged = radios[i].value === initial.choice && (!comment || comment.value === initial.comment);
    if (unchanged && next) { sent = true; window.location.assign(next.href); return; }
    sent = true;
    form.elements.elapsed_ms.value = String(Math.round(elapsed()));
    if (submit) { submit.disabled = true; }
    HTMLFormElement.prototype.submit.call(form);
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); send(); });

  // window/level and zoom, the same on every image of the item
  var view = { window: 1, level: 0.5, zoom: 1, x: 0, y: 0 };
  var funcs = Array.prototype.slice.call(document.querySelectorAll("#wl feFuncR, #wl feFuncG, #wl feFuncB"));
  var images = Array.prototype.slice.call(document.querySelectorAll(".frame img"));
  var sliders = { window: document.getElementById("window"), level: document.getElementById("level"),
                  zoom: document.getElementById("zoom") };
  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }
  function apply() {
    view.window = clamp(view.window, 0.05, 1); view.level = clamp(view.level, 0, 1); view.zoom = clamp(view.zoom, 1, 8);
    var maxShift = 1 - 1 / view.zoom;
    view.x = clamp(view.x, -maxShift, 0); view.y = clamp(view.y, -maxShift, 0);
    var slope = 1 / view.window, intercept = 0.5 - view.level / view.window;
    funcs.forEach(function (f) { f.setAttribute("slope", slope.toFixed(4)); f.setAttribute("intercept", intercept.toFixed(4)); });
    images.forEach(function (img) {
      img.style.transform = "scale(" + view.zoom + ") translate(" + (view.x * 100) + "%, " + (view.y * 100) + "%)";
    });
    if (sliders.window) { sliders.window.value = Math.round(view.window * 100); }
    if (sliders.level) { sliders.level.value = Math.round(view.level * 100); }
    if (sliders.zoom) { sliders.zoom.value = Math.round(view.zoom * 100); }
  }
  function reset() { view = { window: 1, level: 0.5, zoom: 1, x: 0, y: 0 }; apply(); }
  Object.keys(sliders).forEach(function (k) {
    if (sliders[k]) { sliders[k].addEventListener("input", function () { view[k] = Number(sliders[k].value) / 100; apply(); }); }
  });
  var resetButton = document.getElementById("reset");
  if (resetButton) { resetButton.addEventListener("click", reset); }
  function zoomAt(factor, fx, fy) {  // keep the point under the cursor (fractions of the frame) in place
    var before = view.zoom, after = clamp(before * factor, 1, 8);
    var px = fx / before - view.x, py = fy / before - view.y;
    view.zoom = after; view.x = fx / after - px; view.y = fy / after - py; apply();
  }
  document.querySelectorAll(".frame").forEach(function (frame) {
    frame.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = frame.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.15 : 1 / 1.15, (e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
    }, { passive: false });
    frame.addEventListener("pointerdown", function (e) {
      e.preventDefault();
      var r = frame.getBoundingClientRect(), start = { x: e.clientX, y: e.clientY, view: Object.assign({}, view) };
      var pan = e.shiftKey || e.button === 1;
      frame.classList.toggle("panning", pan);
      frame.setPointerCapture(e.pointerId);
      function move(ev) {
        var dx = (ev.clientX - start.x) / r.width, dy = (ev.clientY - start.y) / r.height;
        if (pan) { view.x = start.view.x + dx / view.zoom; view.y = start.view.y + dy / view.zoom; }
        else { view.window = start.view.window * Math.exp(dx); view.level = start.view.level - dy * 0.5; }
        apply();
      }
      function up() { frame.removeEventListener("pointermove", move); frame.removeEventListener("pointerup", up);
                      frame.classList.remove("panning"); }
      frame.addEventListener("pointermove", move); frame.addEventListener("pointerup", up);
    });
    frame.addEventListener("dblclick", reset);
  });

  document.addEventListener("keydown", function (e) {
    var typing = e.target && (e.target.tagName === "TEXTAREA" || (e.target.tagName === "INPUT" && e.target.type === "text"));
    if (typing) {
      if (e.key === "Escape") { e.target.blur(); }
      else if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
      return;
    }
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var i = checkedIndex();
    if (e.key >= "1" && e.key <= "5") { choose(Number(e.key) - 1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); choose(i < 0 ? 2 : Math.max(0, i - 1)); }
    else if (e.key === "ArrowRight") { e.preventDefault(); choose(i < 0 ? 2 : Math.min(radios.length - 1, i + 1)); }
    else if (e.key === "Enter") { e.preventDefault(); send(); }
    else if (e.key === "Backspace") { if (back) { e.preventDefault(); window.location.assign(back.href); } }
    else if (e.key === "c") { if (comment) { e.preventDefault(); comment.focus(); } }
    else if (e.key === "+" || e.key === "=") { zoomAt(1.25, 0.5, 0.5); }
    else if (e.key === "-") { zoomAt(1 / 1.25, 0.5, 0.5); }
    else if (e.key === "0") { reset(); }
    else if (e.key === "[") { view.window /= 1.15; apply(); }
    else if (e.key === "]") { view.window *= 1.15; apply(); }
    else if (e.key === ",") { view.level -= 0.03; apply(); }
    else if (e.key === ".") { view.level += 0.03; apply(); }
  });
  apply();
})();
"""


ICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
        'fill="#1b1e24"/><path d="M4 3h3v10H4zM9 3h3v10H9z" fill="#9aa3ad"/></svg>')


def page(title: str, body: str, script: bool = False) -> str:
    tail = '<script src="/static/reader.js" defer></script>' if script else ""
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"referrer\" content=\"same-origin\">"
            f"<title>{escape(title)}</title><link rel=\"stylesheet\" href=\"/static/reader.css\">"
            "<link rel=\"icon\" href=\"/static/icon.svg\" type=\"image/svg+xml\"></head>"
            f"<body>{body}{tail}</body></html>\n")


def message(title: str, text: str) -> str:
    return page(title, f'<div class="page"><h1>{escape(title)}</h1><p>{escape(text)}</p></div>')


WL_FILTER = ('<svg class="defs" aria-hidden="true" focusable="false"><filter id="wl" color-interpolation-filters="sRGB">'
             '<feComponentTransfer><feFuncR type="linear" slope="1" intercept="0"/>'
             '<feFuncG type="linear" slope="1" intercept="0"/><feFuncB type="linear" slope="1" intercept="0"/>'
             '</feComponentTransfer></filter></svg>')


def item_page(base: str, reader: str, view: dict[str, Any], total: int, answered: int, resume: int | None,
              csrf: str, nonce: str, served_ms: int, error: str = "") -> str:
    """One item. ``base`` is the reader's own path (/r/TOKEN); ``resume`` the first unanswered position."""
    k, task = view["position"], view["task"]
    answer = view["answer"] or {}
    chosen = answer.get("choice")
    captions = ("Left", "Right") if task == "realism" else ("Image",)
    figures = "".join(
        f'<figure><div class="frame"><img src="{escape(base)}/img/{escape(name)}" alt="{caption} image" '
        f'draggable="false"></div><figcaption>{caption}</figcaption></figure>'
        for name, caption in zip(view["images"], captions))
    options = "".join(
        f'<label><input type="radio" name="choice" value="{value}"{" checked" if chosen == value else ""}>'
        f'<kbd>{i}</kbd><span><span class="value">{value:+d}</span> {escape(text)}</span></label>'
        for i, (value, text) in enumerate(labels(task), start=1))
    question = REALISM_QUESTION if task == "realism" else ALIGNMENT_QUESTION
    note = REALISM_NOTE if task == "realism" else "Rate how well the synthetic image shows what the report says."
    prompt = f'<blockquote class="prompt" id="prompt">{escape(view["prompt"] or "")}</blockquote>' \
        if task == "alignment" else ""
    back = f'<a class="button" id="back" href="{escape(base)}/item/{k - 1}">← Back</a>' if k > 1 else ""
    next_link = ""
    if view["answer"] is not None and k < total and (resume is None or k + 1 <= resume):
        next_link = f'<a class="button" id="next" href="{escape(base)}/item/{k + 1}">Next →</a>'
    resume_link = ""
    if resume is not None and resume != k:
        resume_link = f'<a href="{escape(base)}/item/{resume}" id="resume">Continue at item {resume} →</a>'
    elif resume is None:
        resume_link = f'<a href="{escape(base)}/done" id="overview">All answered: overview</a>'
    header = (f'<header><span class="who">Reader {escape(reader)}</span><span>{escape(task.capitalize())}</span>'
              f'<progress max="{total}" value="{answered}"></progress>'
              f'<span id="counter">Item {k} of {total}</span><span class="note">{answered} answered</span>'
              f'<span class="spacer"></span>{resume_link}</header>')
    form = (f'<form method="post" action="{escape(base)}/item/{k}" id="answer" data-choice="'
            f'{"" if chosen is None else chosen}">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<input type="hidden" name="item" value="{escape(view["public_id"])}">'
            f'<input type="hidden" name="nonce" value="{escape(nonce)}">'
            f'<input type="hidden" name="served" value="{served_ms}">'
            '<input type="hidden" name="elapsed_ms" value="">'
            f'<fieldset class="scale"><legend>Your rating (keys 1–5)</legend>{options}</fieldset>'
            '<label class="note" for="comment">Comment (optional, key C)</label>'
            f'<textarea id="comment" name="comment" maxlength="4000">{escape(answer.get("comment") or "")}</textarea>'
            f'<p class="error" id="message" role="status">{escape(error)}</p>'
            f'<nav class="buttons">{back}<button type="submit" class="primary" id="save">Save and next ⏎</button>'
            f'{next_link}</nav></form>')
    tools = ('<div class="tools"><label for="window">Window</label><input type="range" id="window" min="5" max="100" '
             'value="100"><label for="level">Level</label><input type="range" id="level" min="0" max="100" value="50">'
             '<label for="zoom">Zoom</label><input type="range" id="zoom" min="100" max="800" value="100">'
             '<span></span><button type="button" id="reset">Reset view (0)</button></div>')
    help_text = ('<p class="help"><kbd>1</kbd>–<kbd>5</kbd> or <kbd>←</kbd><kbd>→</kbd> rate, <kbd>⏎</kbd> save and '
                 'next, <kbd>⌫</kbd> back. Images: drag for window/level, wheel or <kbd>+</kbd><kbd>−</kbd> zoom, '
                 'shift-drag pan, <kbd>[</kbd><kbd>]</kbd> window, <kbd>,</kbd><kbd>.</kbd> level, <kbd>0</kbd> '
                 'reset.</p>')
    body = (f'{header}<main class="item {task}"><section class="viewer">{figures}</section>'
            f'<aside><h1>{escape(question)}</h1><p class="note">{escape(note)}</p>{prompt}{form}{tools}{help_text}'
            f'</aside></main>{WL_FILTER}')
    return page(f"Item {k} of {total}", body, script=True)


def done_page(base: str, reader: str, rows: Sequence[tuple[int, str, int | None]]) -> str:
    cells = "".join(
        f'<tr><td class="num">{k}</td><td>{escape(task)}</td><td class="num">'
        f'{"—" if choice is None else f"{choice:+d}"}</td><td><a href="{escape(base)}/item/{k}">'
        f'{"change" if choice is not None else "answer"}</a></td></tr>' for k, task, choice in rows)
    missing = sum(1 for _, _, c in rows if c is None)
    title = "All items answered — thank you" if not missing else f"{missing} item(s) still to answer"
    body = (f'<div class="page"><h1>{escape(title)}</h1><p>Reader {escape(reader)}: your answers are saved. You may '
            'close this window; your link brings you back here.</p><table><thead><tr><th class="num">Item</th>'
            f'<th>Task</th><th class="num">Your rating</th><th></th></tr></thead><tbody>{cells}</tbody></table></div>')
    return page("Reader study: done", body)


def admin_page(base: str, rows: Sequence[dict[str, Any]], items: dict[str, int]) -> str:
    def fmt_seconds(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f}"

    cells = "".join(
        f'<tr><td>{escape(r["reader"])}</td><td class="num">{r["answered"]} / {r["total"]}</td>'
        f'<td><progress max="{max(r["total"], 1)}" value="{r["answered"]}"></progress></td>'
        f'<td class="num">{r["tasks"]["realism"]["answered"]} / {r["tasks"]["realism"]["total"]}</td>'
        f'<td class="num">{r["tasks"]["alignment"]["answered"]} / {r["tasks"]["alignment"]["total"]}</td>'
        f'<td class="num">{fmt_seconds(r["median_seconds"])}</td>'
        f'<td>{escape((r["last_answer"] or "—")[:19].replace("T", " "))}</td></tr>'
        for r in rows)
    body = (f'<div class="page"><h1>Reader study: progress</h1><p class="note">{items.get("realism", 0)} realism '
            f'pairs and {items.get("alignment", 0)} alignment items per reader. The answer key is not shown here; '
            '<code>cxrgen-bench reader-study analyse</code> reads it.</p><table><thead><tr><th>Reader</th>'
            '<th class="num">Answered</th><th></th><th class="num">Realism</th><th class="num">Alignment</th>'
            f'<th class="num">Median s / item</th><th>Last answer (UTC)</th></tr></thead><tbody>{cells}</tbody></table>'
            f'<p><a class="button" id="export" href="{escape(base)}/export.csv" download>Download the answers (CSV)</a> '
            f'<a href="{escape(base)}/">Refresh</a></p></div>')
    return page("Reader study: progress", body)
