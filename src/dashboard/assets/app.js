// Mammoth dashboard: confirmation before destructive forms, and copy-to-clipboard buttons.
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  field.select();
  var done = function () { button.textContent = "Copied"; };
  if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, done);
  else { document.execCommand("copy"); done(); }
});
// The open collection follows its query live: the page's table is re-drawn from the stream's
// snapshot and each `changes` event (new rows appear, edited rows update, deleted rows go).
(function () {
  var table = document.getElementById("doc-table");
  var indicator = document.getElementById("live");
  if (!table || !indicator || !table.getAttribute("data-live")) return;
  if (!window.EventSource) { indicator.textContent = "Live updates unavailable"; return; }
  var columns = JSON.parse(table.getAttribute("data-columns"));
  var base = table.getAttribute("data-base");
  var collection = table.getAttribute("data-collection");
  var body = document.getElementById("documents");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var docs = [];
  function flatten(value, prefix, out) {
    Object.keys(value).forEach(function (key) {
      var path = prefix ? prefix + "." + key : key;
      var v = value[key];
      if (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length) flatten(v, path, out);
      else out[path] = v;
    });
    return out;
  }
  function text(v) {
    var t = v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
    return t.length > 120 ? t.slice(0, 120) + "\u2026" : t;
  }
  function hidden(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = value;
    form.appendChild(input);
  }
  function row(doc, changed) {
    var flat = flatten(doc, "", {});
    var tr = document.createElement("tr");
    tr.setAttribute("data-id", doc.id);
    if (changed) tr.className = "changed";
    columns.forEach(function (column) {
      var td = document.createElement("td");
      if (column === "id") {
        var a = document.createElement("a");
        a.className = "docid";
        a.href = base + "?collection=" + encodeURIComponent(collection) + "&doc=" + encodeURIComponent(doc.id);
        a.textContent = doc.id;
        td.appendChild(a);
      } else {
        td.setAttribute("data-column", column);
        td.textContent = text(flat[column]);
      }
      tr.appendChild(td);
    });
    var actions = document.createElement("td");
    actions.className = "rowactions";
    var form = document.createElement("form");
    form.method = "post";
    form.action = base + "/documents/delete";
    form.setAttribute("data-confirm", "Delete document " + doc.id + "? This cannot be undone.");
    hidden(form, "csrf", csrf); hidden(form, "collection", collection); hidden(form, "doc", doc.id);
    var button = document.createElement("button");
    button.type = "submit"; button.className = "danger"; button.textContent = "Delete";
    button.setAttribute("aria-label", "Delete " + doc.id);
    form.appendChild(button);
    actions.appendChild(form);
    tr.appendChild(actions);
    return tr;
  }
  function render(changed) {
    while (body.firstChild) body.removeChild(body.firstChild);
    docs.forEach(function (doc) { body.appendChild(row(doc, changed[doc.id])); });
    var none = document.getElementById("no-documents");
    if (none) none.hidden = docs.length > 0;
  }
  function state(name, label) {
    indicator.setAttribute("data-state", name);
    indicator.textContent = label;
  }
  var source = new EventSource(table.getAttribute("data-live"));
  source.addEventListener("open", function () { state("live", "Live"); });
  source.addEventListener("snapshot", function (event) {
    docs = JSON.parse(event.data).queries.page || [];
    render({});
    state("live", "Live");
  });
  source.addEventListener("changes", function (event) {
    var changed = {};
    (JSON.parse(event.data).changes.page || []).forEach(function (change) {
      var at = -1;
      docs.forEach(function (doc, i) { if (doc.id === change.id) at = i; });
      if (change.type === "removed") { if (at >= 0) docs.splice(at, 1); return; }
      changed[change.id] = true;
      if (at >= 0) docs[at] = change.document; else docs.push(change.document);
    });
    render(changed);
  });
  // Both a dropped connection and the server's `event: error`; EventSource reconnects itself,
  // resuming after the last event id it saw.
  source.addEventListener("error", function () { state("offline", "Offline, reconnecting\u2026"); });
})();
