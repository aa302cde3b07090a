// The flow editor: the line-number gutter follows the textarea (its lines, its scrolling),
// each problem's line is marked in the gutter (from the problems list the server sends after
// each lint: li[data-line]), and a problem's "line N" link puts the cursor on that line.
(function () {
  "use strict";

  function editor() { return document.getElementById("editor"); }
  function gutter() { return document.querySelector('[data-testid="gutter"]'); }

  function lineCount(text) { return text.split("\n").length; }

  // As many numbered lines in the gutter as the text has lines.
  function syncLines() {
    var area = editor(), side = gutter();
    if (!area || !side) return;
    var want = lineCount(area.value), have = side.children.length;
    for (var n = have + 1; n <= want; n++) {
      var span = document.createElement("span");
      span.setAttribute("data-line", String(n));
      span.textContent = String(n);
      side.appendChild(span);
    }
    while (side.children.length > want) side.removeChild(side.lastElementChild);
    syncScroll();
  }

  function syncScroll() {
    var area = editor(), side = gutter();
    if (area && side) side.scrollTop = area.scrollTop;
  }

  // Mark the gutter's lines from the problems now shown.
  function markProblems() {
    var side = gutter();
    if (!side) return;
    var marks = {};
    document.querySelectorAll("#problems li[data-line]").forEach(function (item) {
      var line = item.getAttribute("data-line");
      var mark = marks[line] || (marks[line] = { error: false, titles: [] });
      if (item.getAttribute("data-severity") === "error") mark.error = true;
      mark.titles.push(item.getAttribute("data-rule") + ": " + item.textContent.replace(/\s+/g, " ").trim());
    });
    var last = side.children.length;
    Object.keys(marks).forEach(function (line) {
      if (Number(line) > last) marks[String(last)] = marks[String(last)] || marks[line];
    });
    Array.prototype.forEach.call(side.children, function (span) {
      var mark = marks[span.getAttribute("data-line")];
      span.classList.remove("has-problem", "error", "warning");
      span.removeAttribute("title");
      if (mark) {
        span.classList.add("has-problem", mark.error ? "error" : "warning");
        span.title = mark.titles.join("\n");
      }
    });
  }

  // Put the cursor at a line (and column) of the text, and scroll it into view.
  function goTo(line, col) {
    var area = editor();
    if (!area) return;
    var lines = area.value.split("\n"), offset = 0;
    line = Math.max(1, Math.min(line, lines.length));
    for (var i = 0; i < line - 1; i++) offset += lines[i].length + 1;
    offset += Math.max(0, Math.min((col || 1) - 1, lines[line - 1].length));
    area.focus();
    area.setSelectionRange(offset, offset);
    var height = parseFloat(getComputedStyle(area).lineHeight) || 20;
    area.scrollTop = Math.max(0, (line - 3) * height);
    syncScroll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var area = editor();
    if (!area) return;
    area.addEventListener("input", syncLines);
    area.addEventListener("scroll", syncScroll);
    syncLines();
    markProblems();
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-goto-line]");
    if (!link || !editor()) return;
    event.preventDefault();
    goTo(Number(link.getAttribute("data-goto-line")), Number(link.getAttribute("data-goto-col")));
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail && event.detail.target && event.detail.target.id === "problems") markProblems();
  });
})();
