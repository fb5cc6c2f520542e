// A certified OpenID provider (the `oidc-provider` package) on 127.0.0.1, configured as the
// interop peer for latchkey's tests. See README.md.
//
//   node server.mjs [PORT] [--watch-stdin]
//
// PORT (or env PORT; 0 or nothing picks an ephemeral port). --watch-stdin exits when stdin
// closes, so a test that spawns this with a piped stdin never leaves it running behind.
//
// Prints `READY <issuer>` on stdout once it listens. Everything else goes to stderr.
// INTEROP_LOG=1 logs every request to stderr; INTEROP_DENY=1 makes the automatic consent
// answer `access_denied` instead (for error-path tests).

import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

/** The one registered client: public, native (RFC 8252: any loopback port). */
export const CLIENT_ID = 'latchkey-interop';
/** Registered redirect URI; as a native client any port on 127.0.0.1 matches. */
export const REDIRECT_URI = 'http://127.0.0.1/callback';
/** The account that is "logged in" and consents automatically. */
export const TEST_ACCOUNT = 'latchkey-test-user';

const ACCOUNTS = new Map([
  [TEST_ACCOUNT, { sub: TEST_ACCOUNT, email: 'test@latchkey.example', email_verified: true, name: 'Latchkey Test' }],
]);

const log = process.env.INTEROP_LOG === '1' ? (...a) => console.error('[oidc]', ...a) : () => {};
const deny = process.env.INTEROP_DENY === '1';

const args = process.argv.slice(2);
const watchStdin = args.includes('--watch-stdin');

function portFromArgs() {
  const raw = args.find((a) => !a.startsWith('--')) ?? process.env.PORT ?? '0';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`server.mjs: invalid port ${JSON.stringify(raw)} (expected 0..65535)`);
    process.exit(2);
  }
  return port;
}

function configuration() {
  return {
    clients: [
      {
        client_id: CLIENT_ID,
        application_type: 'native',
        token_endpoint_auth_method: 'none',
        redirect_uris: [REDIRECT_URI],
        response_types: ['code'],
        grant_types: [
          'authorization_code',
          'refresh_token',
          'urn:ietf:params:oauth:grant-type:device_code',
        ],
      },
    ],
    // Public client, so PKCE is required anyway; say so explicitly (only S256 exists in v9).
    pkce: { required: () => true },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    features: {
      // Login and consent are answered by `autoInteraction` below, not by the dev forms.
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      deviceFlow: { enabled: true },
      userinfo: { enabled: true },
    },
    // Refresh tokens rotate on every use (the default for public clients; pinned here).
    rotateRefreshToken: () => true,
    async findAccount(_ctx, sub) {
      const account = ACCOUNTS.get(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: async () => ({ ...account }) };
    },
    // Fixed keys: this is a test peer, nothing it signs is worth anything.
    cookies: { keys: ['latchkey-interop-cookie-key-not-a-secret'] },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      DeviceCode: 600,
      Grant: 14 * 24 * 3600,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
    },
    renderError(ctx, out) {
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = `${out.error}: ${out.error_description ?? ''}\n`;
    },
  };
}

/**
 * The browser part, played without a form: every interaction is answered at once. The
 * `login` prompt logs in TEST_ACCOUNT; the `consent` prompt grants exactly what is missing.
 * The user agent must keep cookies between the redirects (`_interaction`,
 * `_interaction_resume`, `_session`), as a browser would.
 */
async function autoInteraction(provider, req, res) {
  const details = await provider.interactionDetails(req, res);
  const { prompt, params, session } = details;
  log('interaction', details.uid, prompt.name, JSON.stringify(prompt.reasons));
  if (deny) {
    await provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'the test user declined (INTEROP_DENY=1)',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (prompt.name === 'login') {
    await provider.interactionFinished(req, res, { login: { accountId: TEST_ACCOUNT } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  if (prompt.name === 'consent') {
    const accountId = session?.accountId ?? TEST_ACCOUNT;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, {
      mergeWithLastSubmission: true,
    });
    return;
  }
  throw new errors.InvalidRequest(`unexpected prompt ${prompt.name}`);
}

async function main() {
  const port = portFromArgs();
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (_ctx, err) => console.error('[oidc] server_error', err));
  provider.on('grant.error', (_ctx, err) => log('grant.error', err.error, err.error_description));
  const callback = provider.callback();
  server.on('request', (req, res) => {
    log(req.method, req.url);
    if (req.url.startsWith('/interaction/')) {
      autoInteraction(provider, req, res).catch((err) => {
        console.error('[oidc] interaction failed:', err);
        res.statusCode = err.statusCode ?? 500;
        res.setHeader('content-type', 'text/plain; charset=utf-8');
        res.end(`interaction failed: ${err.message}\n`);
      });
      return;
    }
    callback(req, res);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (watchStdin) {
    // A parent that dies closes our stdin: do not outlive it.
    process.stdin.on('end', stop);
    process.stdin.on('error', stop);
    process.stdin.resume();
  }
  process.stdout.write(`READY ${issuer}\n`);
}

main().catch((err) => {
  console.error('server.mjs:', err);
  process.exit(1);
});
