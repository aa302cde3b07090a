// Draws each <pre class="mermaid"> of the page with the vendored Mermaid. Without this script
// the Mermaid source stays readable, with the diagram in words under it.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.mermaid) return;
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
  window.mermaid.run({ querySelector: "pre.mermaid" });
});
