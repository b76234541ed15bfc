// The sandbox page: shows what the server pushes (server-sent events) and sends each action back
// as JSON; the server turns it into the signed request Slack would send the bot.
const $ = (id) => document.getElementById(id);
const state = { viewer: localStorage.getItem('viewer') || 'U0ALICE', channel: location.hash.slice(1) || 'C0APPROVALS', fragments: null, source: null };

async function post(action, body) {
  const response = await fetch(`/ui/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: state.viewer, ...body }) });
  return response.json();
}

function showError(element, answer) {
  element.textContent = answer.ok ? '' : answer.error;
  return answer;
}

function connect() {
  state.source?.close();
  $('connection').textContent = 'connecting…';
  const source = new EventSource(`/events?user=${encodeURIComponent(state.viewer)}`);
  state.source = source;
  source.addEventListener('state', (event) => {
    state.fragments = JSON.parse(event.data);
    render();
  });
  source.onopen = () => ($('connection').textContent = 'live');
  source.onerror = () => ($('connection').textContent = 'reconnecting…');
}

// Only what changed is replaced, so an open menu or an expanded decision stays as it is.
function replace(element, html) {
  if (element.dataset.html === html) return false;
  element.innerHTML = html;
  element.dataset.html = html;
  return true;
}

function render() {
  const f = state.fragments;
  if (!f) return;
  if (!(state.channel in f.channels)) state.channel = Object.keys(f.channels)[0];
  replace($('channel-list'), f.channelList);
  for (const link of document.querySelectorAll('#channel-list a')) link.classList.toggle('active', link.dataset.channel === state.channel);
  $('channel-name').textContent = document.querySelector(`#channel-list a[data-channel="${state.channel}"]`)?.firstChild?.textContent ?? '';
  const messages = $('messages');
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
  if (replace(messages, f.channels[state.channel]) && atBottom) messages.scrollTop = messages.scrollHeight;
  replace($('requests'), f.requests);
  replace($('decisions'), f.decisions);
  $('policy-snapshot').textContent = f.policySnapshot;
  renderModal(f.modal);
}

function renderModal(html) {
  const layer = $('modal-layer');
  const openId = layer.querySelector('form')?.dataset.viewId;
  const nextId = /data-view-id="([^"]+)"/.exec(html)?.[1];
  if (openId === nextId) return; // keep what the user is typing
  layer.innerHTML = html;
  layer.hidden = !html;
  layer.querySelector('textarea, input')?.focus();
}

function confirmFirst(button) {
  if (!button.dataset.confirm) return Promise.resolve(true);
  const texts = JSON.parse(button.dataset.confirm);
  const dialog = $('confirm-dialog');
  $('confirm-title').innerHTML = texts.title;
  $('confirm-text').innerHTML = texts.text;
  $('confirm-ok').innerHTML = texts.confirm;
  $('confirm-deny').innerHTML = texts.deny;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true }));
}

async function act(element, value) {
  const message = element.closest('[data-ts], [data-ephemeral]');
  if (!message) return;
  const answer = await post('click', {
    kind: element.dataset.kind,
    actionId: element.dataset.actionId,
    value,
    ...(message.dataset.ephemeral !== undefined ? { ephemeral: true } : { channel: message.dataset.channel, ts: message.dataset.ts }),
  });
  showError($('composer-error'), answer);
}

document.addEventListener('click', async (event) => {
  const button = event.target.closest('#messages button[data-action-id]');
  if (!button) return;
  if (await confirmFirst(button)) await act(button, button.dataset.value);
});

document.addEventListener('change', async (event) => {
  const select = event.target.closest('#messages select[data-action-id]');
  if (!select || !select.value) return;
  const value = select.value;
  select.value = '';
  await act(select, value);
});

$('modal-layer').addEventListener('click', async (event) => {
  if (!event.target.closest('[data-modal-close]')) return;
  const form = $('modal-layer').querySelector('form');
  await post('close-view', { viewId: form.dataset.viewId });
  $('modal-layer').innerHTML = '';
  $('modal-layer').hidden = true;
});

$('modal-layer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const values = {};
  for (const field of form.querySelectorAll('[name]')) {
    const [blockId, actionId] = field.name.split('/');
    values[blockId] = { ...values[blockId], [actionId]: field.value };
  }
  const answer = await post('submit-view', { viewId: form.dataset.viewId, values });
  for (const slot of form.querySelectorAll('[data-error-for]')) slot.textContent = answer.errors?.[slot.dataset.errorFor] ?? '';
  form.querySelector('[data-modal-error]').textContent = answer.ok ? '' : answer.error;
});

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('composer-text').value;
  const answer = showError($('composer-error'), await post('command', { channel: state.channel, text }));
  if (answer.ok) $('composer-text').value = '';
});

$('change-policy').addEventListener('click', async () => showError($('engine-error'), await post('policy', {})));

// Channel links: the sidebar, and permalinks to cards ("open the card").
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-channel]');
  if (!link) return;
  event.preventDefault();
  state.channel = link.dataset.channel;
  history.replaceState(null, '', `#${state.channel}`);
  render();
});

$('viewer').addEventListener('change', () => {
  state.viewer = $('viewer').value;
  localStorage.setItem('viewer', state.viewer);
  $('viewer-role').textContent = $('viewer').selectedOptions[0].dataset.role;
  $('modal-layer').innerHTML = '';
  connect();
});

const setup = await (await fetch('/setup')).json();
for (const user of setup.users) {
  const option = new Option(user.name, user.id, false, user.id === state.viewer);
  option.dataset.role = user.role;
  $('viewer').append(option);
}
state.viewer = $('viewer').value;
$('viewer-role').textContent = $('viewer').selectedOptions[0]?.dataset.role ?? '';
for (const sample of setup.samples) {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = sample.label;
  button.dataset.sample = sample.name;
  button.addEventListener('click', async () => showError($('engine-error'), await post('request', { sample: sample.name })));
  $('samples').append(button);
}
connect();
