// Mammoth dashboard, operations page: imports a file through the admin API with the session
// cookie and X-CSRF-Token, showing upload progress.
(function () {
  var form = document.getElementById("import-form");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = document.getElementById("import-file").files[0];
    var bar = document.getElementById("import-progress");
    var result = document.getElementById("import-result");
    if (!file) { result.textContent = "Choose a file first."; return; }
    var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.getAttribute("data-url"));
    xhr.setRequestHeader("Content-Type", "application/x-ndjson");
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    };
    xhr.onload = function () {
      bar.value = 100;
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) {}
      if (xhr.status >= 200 && xhr.status < 300) {
        var errors = (body.errors || []).length;
        result.textContent = "Imported " + (body.imported != null ? body.imported : "?") + " document(s)" +
          (errors ? "; " + errors + " line(s) refused." : ".");
      } else {
        result.textContent = "Import refused: " + ((body.error && body.error.message) || xhr.status);
      }
    };
    xhr.onerror = function () { result.textContent = "The import could not reach the server."; };
    result.textContent = "Importing…";
    xhr.send(file);
  });
})();
