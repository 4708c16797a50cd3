// The web view's script. Text from agents only ever reaches the page through textContent (and
// attribute values), never as markup: agents can send anything.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { overview: null, open: null, lastId: 0, source: null, refreshDue: null };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
}

function duration(seconds) {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${s % 60}s`;
}

async function call(method, path, body, headers) {
  const init = { method, headers: Object.assign({}, headers || {}), credentials: "same-origin" };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(data && data.error ? data.error.message : response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

function showLogin(message) {
  if (state.source) { state.source.close(); state.source = null; }
  $("app").hidden = true;
  $("logout").hidden = true;
  $("viewer").textContent = "";
  $("login").hidden = false;
  $("login-error").textContent = message || "";
}

async function login(event) {
  event.preventDefault();
  const headers = {};
  const token = $("login-token").value.trim();
  const client = $("login-client").value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  if (client) headers["X-Client-Id"] = client;
  try {
    await call("POST", "/ui/login", undefined, headers);
  } catch (error) {
    $("login-error").textContent = "Refused: " + error.message;
    return;
  }
  $("login-token").value = "";
  $("login").hidden = true;
  await refresh();
}

async function logout() {
  await call("POST", "/ui/logout");
  state.open = null;
  showLogin();
}

async function refresh() {
  let overview;
  try {
    overview = await call("GET", "/ui/api/overview");
  } catch (error) {
    if (error.status === 401 || error.status === 403) { showLogin(); return; }
    throw error;
  }
  state.overview = overview;
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  $("viewer").textContent = "viewing as " + overview.viewer;
  renderStats(overview.status);
  renderSessions(overview.sessions);
  renderTasks(overview.tasks);
  if (state.open) renderParticipants(findSession(state.open));
}

function renderStats(status) {
  const list = $("stats-list");
  list.replaceChildren();
  const rows = [
    ["version", status.version],
    ["uptime", duration(status.uptime_s)],
    ["clients", status.counts.clients],
    ["sessions", status.counts.sessions],
    ["messages", status.counts.messages],
    ["files", status.counts.blobs],
    ["file store", `${bytes(status.counts.blob_bytes)} of ${bytes(status.limits.blob_quota_bytes)}`],
    ["auth", status.auth_mode],
  ];
  for (const [name, value] of rows) {
    list.append(el("dt", "", name), el("dd", "", String(value)));
  }
}

function findSession(name) {
  return state.overview.sessions.find((view) => view.session.name === name) || null;
}

function renderSessions(views) {
  const list = $("session-list");
  list.replaceChildren();
  if (!views.length) list.append(el("li", "muted", "No sessions for this viewer yet."));
  for (const view of views) {
    const item = el("li");
    const button = el("button", "", view.session.name);
    button.type = "button";
    button.dataset.session = view.session.name;
    button.setAttribute("aria-current", String(view.session.name === state.open));
    const live = view.participants.filter((p) => p.presence !== "offline").length;
    button.append(el("span", "count", `${live}/${view.participants.length} on`));
    button.addEventListener("click", () => openSession(view.session.name));
    item.append(button);
    list.append(item);
  }
}

function renderParticipants(view) {
  const list = $("participants");
  list.replaceChildren();
  if (!view) return;
  for (const p of view.participants) {
    const item = el("li", p.presence, `${p.client_id} · ${p.presence}`);
    item.dataset.client = p.client_id;
    list.append(item);
  }
}

// The tasks of the viewer's sessions, most recently changed first (text only, never markup).
function renderTasks(tasks) {
  const list = $("task-list");
  list.replaceChildren();
  $("tasks-empty").hidden = tasks.length > 0;
  for (const task of tasks) {
    const holder = task.claimed_by ? ` · ${task.claimed_by}` : "";
    const item = el("li", "task " + task.state, `#${task.id} ${task.title} · ${task.state}${holder} · ${task.session}`);
    item.dataset.task = String(task.id);
    list.append(item);
  }
}

function renderMessage(message) {
  const item = el("li");
  item.id = "message-" + message.id;
  item.dataset.id = String(message.id);
  const meta = el("div", "meta");
  meta.append(el("span", "sender", message.sender));
  const when = new Date(message.created_at).toLocaleString();
  meta.append(document.createTextNode(message.to.length ? `to ${message.to.join(", ")} · ${when}` : when));
  item.append(meta, el("p", "text", message.text));
  if (message.attachments.length) {
    const files = el("ul", "files");
    for (const file of message.attachments) {
      const link = el("a", "", file.filename);
      link.href = `/ui/api/blobs/${encodeURIComponent(file.sha256)}?name=${encodeURIComponent(file.filename)}`;
      link.setAttribute("download", file.filename);
      const entry = el("li");
      entry.append(link, document.createTextNode(` (${bytes(file.size)})`));
      files.append(entry);
    }
    item.append(files);
  }
  return item;
}

function append(message) {
  if (message.id <= state.lastId) return;
  state.lastId = message.id;
  $("messages").append(renderMessage(message));
}

async function openSession(name) {
  if (state.source) { state.source.close(); state.source = null; }
  state.open = name;
  state.lastId = 0;
  const view = findSession(name);
  $("session").hidden = false;
  $("session-title").textContent = name;
  $("session-description").textContent = view ? view.session.description : "";
  $("messages").replaceChildren();
  renderParticipants(view);
  renderSessions(state.overview.sessions);
  const postAs = state.overview.post_as;
  $("post-form").hidden = !postAs;
  if (postAs) $("post-label").textContent = "Message as " + postAs;
  await loadNewer();
  listen(name);
}

async function loadNewer() {
  const name = state.open;
  for (;;) {
    const page = await call("GET", `/ui/api/sessions/${encodeURIComponent(name)}/messages?after=${state.lastId}`);
    if (state.open !== name) return;
    page.messages.forEach(append);
    if (!page.has_more) return;
  }
}

function listen(name) {
  const url = `/ui/api/sessions/${encodeURIComponent(name)}/events?after=${state.lastId}`;
  const source = new EventSource(url);
  source.addEventListener("message", (event) => {
    append(JSON.parse(event.data));
    soonRefresh();
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) refresh();
  });
  state.source = source;
}

// Counts and unread numbers follow messages; a burst of them costs one overview, not one each.
function soonRefresh() {
  if (state.refreshDue) return;
  state.refreshDue = setTimeout(() => { state.refreshDue = null; refresh(); }, 1000);
}

async function post(event) {
  event.preventDefault();
  const text = $("post-text").value;
  $("post-error").textContent = "";
  try {
    await call("POST", `/ui/api/sessions/${encodeURIComponent(state.open)}/messages`, { text });
  } catch (error) {
    $("post-error").textContent = error.message;
    return;
  }
  $("post-text").value = "";
  await loadNewer();  // the stream does not carry what its own viewer posts until the next wake
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("post-form").addEventListener("submit", post);
  refresh();
  // Presence is time-based (seen in the last minute), so the overview is read again now and
  // then; messages arrive on the event stream, never by this timer.
  setInterval(() => { if (!$("app").hidden) refresh(); }, 30000);
});
