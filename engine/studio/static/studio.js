// Every htmx request carries the session's CSRF token (the server refuses a change without it).
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf"]');
  if (meta) event.detail.headers["X-CSRF-Token"] = meta.content;
});
