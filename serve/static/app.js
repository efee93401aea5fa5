// The chat page of smaug serve: keeps the conversation, sends it to
// /v1/chat/completions with stream: true and shows the reply as it streams.
'use strict';

const $ = (id) => document.getElementById(id);
const log = $('log'), input = $('input'), errorBox = $('error');
let messages = [];
let modelId = '';
let running = null; // AbortController of the request in flight

function headers() {
  const h = { 'Content-Type': 'application/json' };
  const key = $('api-key').value || localStorage.getItem('smaug-api-key') || '';
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = !text;
}

function bubble(role, text) {
  const div = document.createElement('div');
  div.className = 'msg ' + role;
  div.textContent = text;
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

async function apiError(resp) {
  try {
    const body = await resp.json();
    if (body.error && body.error.message) return resp.status + ': ' + body.error.message;
  } catch (e) { /* not JSON */ }
  return 'HTTP ' + resp.status;
}

async function loadModel() {
  const resp = await fetch('v1/models', { headers: headers() });
  if (resp.status === 401) {
    $('key-label').hidden = false;
    showError('This server needs an API key.');
    return;
  }
  if (!resp.ok) { showError(await apiError(resp)); return; }
  const body = await resp.json();
  modelId = body.data[0].id;
  $('model').textContent = modelId;
  showError('');
}

async function send(text) {
  showError('');
  messages.push({ role: 'user', content: text });
  bubble('user', text);
  const reply = bubble('assistant', '');
  reply.classList.add('streaming');
  running = new AbortController();
  $('send').hidden = true;
  $('stop').hidden = false;
  let content = '', finish = '';
  try {
    const body = {
      model: modelId || undefined, messages, stream: true,
      temperature: Number($('temperature').value), max_tokens: Number($('max-tokens').value),
    };
    const resp = await fetch('v1/chat/completions', {
      method: 'POST', headers: headers(), body: JSON.stringify(body), signal: running.signal,
    });
    if (!resp.ok) throw new Error(await apiError(resp));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const event = buf.slice(0, i);
        buf = buf.slice(i + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data: ')) continue;
          const data = line.slice(6);
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          for (const c of chunk.choices) {
            if (c.delta && c.delta.content) {
              content += c.delta.content;
              reply.textContent = content;
              log.scrollTop = log.scrollHeight;
            }
            if (c.finish_reason) finish = c.finish_reason;
          }
        }
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') showError(e.message);
    finish = finish || 'stopped';
  } finally {
    reply.classList.remove('streaming');
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = finish === 'length' ? 'cut at max tokens' : finish === 'stopped' ? 'stopped' : '';
    if (meta.textContent) reply.appendChild(meta);
    reply.dataset.finish = finish || 'stop';
    messages.push({ role: 'assistant', content });
    running = null;
    $('send').hidden = false;
    $('stop').hidden = true;
    input.focus();
  }
}

$('form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text || running) return;
  input.value = '';
  send(text);
});
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    $('form').requestSubmit();
  }
});
$('stop').addEventListener('click', () => running && running.abort());
$('clear').addEventListener('click', () => {
  if (running) running.abort();
  messages = [];
  log.textContent = '';
  showError('');
});
$('api-key').addEventListener('change', () => {
  localStorage.setItem('smaug-api-key', $('api-key').value);
  loadModel();
});
loadModel();
