// Drives smaug serve with the official openai npm client and prints what
// the client returned as one JSON object; serve's Go test checks it.
// Environment: OPENAI_NODE_DIR (a folder whose node_modules holds openai),
// BASE_URL (http://host:port/v1), API_KEY, MODEL.
const { createRequire } = require('module');
const path = require('path');
const req = createRequire(path.join(process.env.OPENAI_NODE_DIR, 'index.js'));
const OpenAI = req('openai');

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
const model = process.env.MODEL;
const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello, dragon!' }];

async function errorOf(f) {
  try {
    await f();
    return 'no error';
  } catch (e) {
    return { class: e.constructor.name, status: e.status, type: e.type ?? null, param: e.param ?? null, code: e.code ?? null,
      isAPIError: e instanceof OpenAI.APIError };
  }
}

async function main() {
  const out = { version: require('fs').readFileSync(path.join(process.env.OPENAI_NODE_DIR, 'node_modules', 'openai', 'package.json'), 'utf8').match(/"version": "([^"]+)"/)[1] };
  out.models = (await client.models.list()).data.map((m) => m.id);

  const c = await client.chat.completions.create({ model, messages, max_tokens: 20, temperature: 0 });
  out.chat = { content: c.choices[0].message.content, role: c.choices[0].message.role, finish: c.choices[0].finish_reason, usage: c.usage, object: c.object };

  const s = await client.chat.completions.create({ model, messages, max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true } });
  let content = '', usage = null, finish = null, chunks = 0;
  for await (const ch of s) {
    chunks++;
    if (ch.usage) usage = ch.usage;
    for (const x of ch.choices) {
      if (x.delta.content) content += x.delta.content;
      if (x.finish_reason) finish = x.finish_reason;
    }
  }
  out.chatStream = { content, usage, finish, chunks };

  const lp = await client.chat.completions.create({ model, messages, max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 2 });
  out.chatLogprobs = lp.choices[0].logprobs.content.map((e) => ({ token: e.token, logprob: e.logprob, top: e.top_logprobs.map((t) => t.token) }));

  const n = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 12, temperature: 0.8, seed: 7, n: 2 });
  out.completionsN = n.choices.map((x) => ({ index: x.index, text: x.text, finish: x.finish_reason }));

  const st = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: [process.env.STOP] });
  out.completionsStop = { text: st.choices[0].text, finish: st.choices[0].finish_reason };

  const cs = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 40, temperature: 0, stop: [process.env.STOP], stream: true });
  let text = '', cfinish = null;
  for await (const ch of cs) {
    for (const x of ch.choices) {
      text += x.text;
      if (x.finish_reason) cfinish = x.finish_reason;
    }
  }
  out.completionsStream = { text, finish: cfinish };

  const cl = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 3, temperature: 0, logprobs: 2 });
  out.completionsLogprobs = cl.choices[0].logprobs;

  out.errors = {
    notFound: await errorOf(() => client.chat.completions.create({ model: 'gpt-4o', messages })),
    badRequest: await errorOf(() => client.completions.create({ model, prompt: 'x', n: 99 })),
    auth: await errorOf(() => new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'wrong', maxRetries: 0 }).models.list()),
  };
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
