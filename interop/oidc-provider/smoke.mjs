// Smoke test of the interop peer, independent of latchkey: start server.mjs, read discovery,
// then run code + PKCE → token → refresh (rotation) → revoke → refused refresh with a
// cookie-keeping user agent. Exits non-zero on the first surprise.
//
//   node smoke.mjs

import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLIENT_ID = 'latchkey-interop';
const REDIRECT_URI = 'http://127.0.0.1:53682/callback';

function check(cond, what) {
  if (!cond) throw new Error(`smoke: ${what}`);
  console.log(`ok - ${what}`);
}

async function startProvider() {
  const script = fileURLToPath(new URL('./server.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, '0', '--watch-stdin'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const timer = setTimeout(() => child.kill(), 15000);
  for await (const line of lines) {
    if (line.startsWith('READY ')) {
      clearTimeout(timer);
      return { child, issuer: line.slice(6).trim() };
    }
  }
  throw new Error('smoke: server.mjs exited before READY');
}

/** A minimal cookie jar: name → value, sent everywhere (the provider scopes by path). */
class Agent {
  jar = new Map();

  async fetch(url, init = {}) {
    const headers = new Headers(init.headers);
    if (this.jar.size) {
      headers.set('cookie', [...this.jar].map(([n, v]) => `${n}=${v}`).join('; '));
    }
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a) || /^\s*max-age=0/i.test(a));
      if (expired || value === '') this.jar.delete(name); else this.jar.set(name, value);
    }
    return res;
  }
}

const b64url = (buf) => buf.toString('base64url');

async function tokenRequest(endpoint, params) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  return { status: res.status, json: await res.json() };
}

async function main() {
  const { child, issuer } = await startProvider();
  try {
    const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    check(discovery.issuer === issuer, `discovery issuer ${discovery.issuer}`);
    for (const key of [
      'authorization_endpoint',
      'token_endpoint',
      'revocation_endpoint',
      'device_authorization_endpoint',
      'userinfo_endpoint',
    ]) {
      check(typeof discovery[key] === 'string', `${key}: ${discovery[key]}`);
    }
    check(discovery.authorization_response_iss_parameter_supported === true, 'RFC 9207 iss advertised');

    const verifier = b64url(randomBytes(32));
    const challenge = b64url(createHash('sha256').update(verifier).digest());
    const state = b64url(randomBytes(16));
    const auth = new URL(discovery.authorization_endpoint);
    auth.search = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: 'openid offline_access',
      prompt: 'consent',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const agent = new Agent();
    let url = auth.href;
    let callback;
    for (let hop = 0; hop < 10 && !callback; hop += 1) {
      const res = await agent.fetch(url);
      const location = res.headers.get('location');
      check(res.status >= 300 && res.status < 400 && location, `hop ${hop}: ${res.status} → ${location}`);
      url = new URL(location, url).href;
      if (url.startsWith(REDIRECT_URI)) callback = new URL(url);
    }
    check(callback, 'reached the loopback redirect URI');
    check(callback.searchParams.get('state') === state, 'state echoed');
    check(callback.searchParams.get('iss') === issuer, `iss on the callback: ${callback.searchParams.get('iss')}`);
    const code = callback.searchParams.get('code');

    const token = await tokenRequest(discovery.token_endpoint, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      client_id: CLIENT_ID,
      code_verifier: verifier,
    });
    check(token.status === 200, `token: ${JSON.stringify(Object.keys(token.json))} token_type=${token.json.token_type}`);
    check(typeof token.json.refresh_token === 'string', 'refresh token issued (offline_access)');

    const refreshed = await tokenRequest(discovery.token_endpoint, {
      grant_type: 'refresh_token',
      refresh_token: token.json.refresh_token,
      client_id: CLIENT_ID,
    });
    check(refreshed.status === 200, 'refresh');
    check(refreshed.json.refresh_token !== token.json.refresh_token, 'refresh token rotated');

    const revoke = await fetch(discovery.revocation_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: refreshed.json.refresh_token,
        token_type_hint: 'refresh_token',
        client_id: CLIENT_ID,
      }),
    });
    check(revoke.status === 200, 'revoke');
    const refused = await tokenRequest(discovery.token_endpoint, {
      grant_type: 'refresh_token',
      refresh_token: refreshed.json.refresh_token,
      client_id: CLIENT_ID,
    });
    check(refused.status === 400 && refused.json.error === 'invalid_grant', `revoked refresh token refused: ${JSON.stringify(refused.json)}`);
    console.log('smoke: all checks passed');
  } finally {
    child.stdin.end();
    child.kill();
    await once(child, 'exit');
  }
}

main().catch((err) => {
  console.error(err.message ?? err);
  process.exit(1);
});
