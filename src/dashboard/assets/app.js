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
// The open collection page follows its query live: the table is re-drawn from each `page`
// event of the stream (new rows appear in their place, edited rows update, deleted rows go).
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
  // Each `page` event is the open page whole, in the query's order (the server re-runs the
  // page's query after every change): rows that are new or changed since the last one are
  // highlighted (nothing on the first one).
  var seen = null;
  source.addEventListener("page", function (event) {
    var next = JSON.parse(event.data).docs || [];
    var changed = {};
    if (seen) next.forEach(function (doc) {
      var text = JSON.stringify(doc);
      if (seen[doc.id] !== text) changed[doc.id] = true;
    });
    seen = {};
    next.forEach(function (doc) { seen[doc.id] = JSON.stringify(doc); });
    docs = next;
    render(changed);
    state("live", "Live");
  });
  // Both a dropped connection and the server's `event: error`; EventSource reconnects itself
  // and the stream starts again with the page as it is then.
  source.addEventListener("error", function () { state("offline", "Offline, reconnecting\u2026"); });
})();
