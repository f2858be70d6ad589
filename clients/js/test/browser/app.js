// The page tests/it/js_browser.rs opens: it is served from its own origin and talks to Mammoth
// on another one with a client key and a session, exactly as an app would.
import { Mammoth } from "/client/index.js";

const params = new URLSearchParams(location.search);
const state = (window.__state = { phase: "starting", changes: [] });
const show = () => {
  document.getElementById("state").textContent = JSON.stringify(state, null, 2);
};

try {
  const db = new Mammoth({ url: params.get("api"), apiKey: params.get("key"), storage: localStorage });
  const { user } = await db.auth.signUp({ email: "browser@example.com", password: "browser password" });
  state.user = user.id;
  state.stored = localStorage.getItem("mammoth.session") === db.auth.session;

  const todos = db.collection("todos");
  await todos.create({ id: "first", owner: user.id, title: "a: written by the page" });
  try {
    await todos.create({ id: "theirs", owner: "someone-else", title: "not mine" });
  } catch (e) {
    state.refused = `${e.name} ${e.code} ${e.status}`;
  }
  const page = await todos.query({ filter: { owner: user.id } });
  state.queried = page.documents.map((d) => d.id);

  const sub = todos.onSnapshot(
    { filter: { owner: user.id }, sort: [{ field: "title" }] },
    (docs, changes) => {
      state.ids = docs.map((d) => d.id);
      for (const c of changes) state.changes.push(`${c.type}:${c.id}`);
      if (changes.some((c) => c.type === "added" && c.id === "second")) state.phase = "changed";
      document.getElementById("todos").innerHTML = docs
        .map((d) => `<li>${d.title.replace(/</g, "&lt;")}</li>`)
        .join("");
      show();
    },
    (e) => {
      state.phase = "error";
      state.error = `${e.code}: ${e.message}`;
      show();
    },
  );
  await sub.ready;
  if (state.phase === "starting") state.phase = "listening";
} catch (e) {
  state.phase = "error";
  state.error = `${e.code ?? ""} ${e.message}`;
}
show();
