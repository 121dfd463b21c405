// Tousu's development OpenID provider: panva's certified `oidc-provider` on loopback.
//
// Started by `tousu run` and the tests (tousu_common/oidc_dev.py), never in
// production (compose uses Keycloak; a company uses its own provider). It reads
// one JSON file (argv[2]) that the Python side writes:
//
//   { issuer, port, audience, resource, keys_file, cookie_key, access_token_ttl,
//     users:   [{ username, password, name, roles, department }],
//     clients: [{ client_id, client_secret?, grant_types, redirect_uris?,
//                 post_logout_redirect_uris?, roles?, dev_issuer? }],
//     test_issuance: false, dev_issuance: false }
//
// What it does: authorization code + PKCE (login form checks the seeded users'
// passwords), client credentials, RP-initiated logout, JWT access tokens for
// one resource server (RFC 8707 resource indicators → `aud`), with `roles` and
// `department` claims. Signing keys live in keys_file (private JWKs, mode 600),
// which only the Python side writes; on SIGUSR1 the provider reads it again: its
// first key signs from then on and every key in it is published (that is how
// oidc_dev.py rotates a key and retires the old ones).
// With test_issuance (tests only), POST /_test/token signs an access token for
// any subject, roles and department with the current key, exactly as the
// provider's own access tokens look: the authorization-matrix tests run on it.
// With dev_issuance (`tousu run` only), POST /_dev/token signs the same kind of
// token for `tousu token`, but only for the caller that authenticates as the dev
// admin client (HTTP Basic with its client secret, as at /token): that client can
// already get admin tokens by client credentials, so this grants nothing new,
// and anyone else on loopback gets 401 and no token. `client_id` is always that
// client's (never a service's), `sub`, `roles`, `department` and `ttl` (seconds,
// at most 30 days) are the caller's.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { URLSearchParams } from 'node:url';

import { SignJWT, importJWK } from 'jose';
import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const users = new Map(config.users.map((user) => [user.username, user]));
const clients = new Map(config.clients.map((client) => [client.client_id, client]));

// The Python side (oidc_dev.py) makes the keys and writes keys_file before it
// starts this process and before it sends SIGUSR1: generating them here with
// generateKeyPairSync hung the provider at start-up in CI.
function loadKeys() {
  return JSON.parse(fs.readFileSync(config.keys_file, 'utf8')).keys;
}

function htmlSafe(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function claimsOf(username) {
  const user = users.get(username);
  return { roles: user.roles, department: user.department ?? undefined };
}

function configuration(keys) {
  return {
    clients: config.clients.map((client) => {
      const grants = client.grant_types;
      return {
        client_id: client.client_id,
        ...(client.client_secret
          ? { client_secret: client.client_secret, token_endpoint_auth_method: 'client_secret_basic' }
          : { token_endpoint_auth_method: 'none' }),
        grant_types: grants,
        response_types: grants.includes('authorization_code') ? ['code'] : [],
        redirect_uris: client.redirect_uris ?? [],
        post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
      };
    }),
    async findAccount(_ctx, id) {
      const user = users.get(id);
      if (!user) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            name: user.name,
            preferred_username: id,
            ...(await claimsOf(id)),
          };
        },
      };
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      tousu: ['roles', 'department'],
    },
    scopes: ['openid', 'profile', 'tousu', 'offline_access', 'api'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => config.resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx, indicator) => {
          if (indicator !== config.resource) throw new errors.InvalidTarget();
          return {
            scope: 'api',
            audience: config.audience,
            accessTokenTTL: config.access_token_ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    async extraTokenClaims(_ctx, token) {
      if (token.accountId) return claimsOf(token.accountId);
      return { roles: clients.get(token.clientId)?.roles ?? [] };
    },
    // The workbench renews people's short access tokens with a refresh token, as
    // Keycloak issues one with every standard-flow sign-in (no offline_access and
    // consent prompt needed for a first-party client).
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('openid');
    },
    // First-party clients only: sign-in grants what Tousu asks, no consent screen.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid profile tousu offline_access');
      grant.addResourceScope(config.resource, 'api');
      await grant.save();
      return grant;
    },
    interactions: { url: async (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    jwks: { keys },
    cookies: { keys: [config.cookie_key] },
    ttl: {
      AccessToken: config.access_token_ttl,
      ClientCredentials: config.access_token_ttl,
      IdToken: 3600,
      AuthorizationCode: 60,
      Interaction: 600,
      Session: 8 * 3600,
      Grant: 8 * 3600,
    },
  };
}

let keys = loadKeys();
let provider = build();
let handler = provider.callback();

function build() {
  const instance = new Provider(config.issuer, configuration(keys));
  instance.proxy = false;
  return instance;
}

function loginPage(uid, error) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in · Tousu (dev)</title></head>
<body><main><h1>Sign in to Tousu</h1><p>Development identity provider: the users and passwords are printed by <code>tousu run</code>.</p>
${error ? `<p role="alert" id="error">${htmlSafe(error)}</p>` : ''}
<form method="post" action="/interaction/${htmlSafe(uid)}/login" autocomplete="off">
<label>User <input name="username" id="username" required autofocus></label>
<label>Password <input name="password" id="password" type="password" required></label>
<button type="submit" id="sign-in">Sign in</button></form></main></body></html>`;
}

function readBody(req, limit = 65536) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function passwordMatches(user, given) {
  const expected = Buffer.from(user.password, 'utf8');
  const actual = Buffer.from(given ?? '', 'utf8');
  return expected.length === actual.length && crypto.timingSafeEqual(expected, actual);
}

async function interaction(req, res, uid, action) {
  const current = provider;
  const details = await current.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  if (details.prompt.name !== 'login') {
    // Consent is granted by loadExistingGrant; anything else just continues.
    await current.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
    return;
  }
  if (req.method === 'GET' && !action) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(loginPage(uid));
    return;
  }
  if (req.method === 'POST' && action === 'login') {
    const form = new URLSearchParams(await readBody(req));
    const user = users.get(form.get('username') ?? '');
    if (!user || !passwordMatches(user, form.get('password'))) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(uid, 'Unknown user or wrong password.'));
      return;
    }
    await current.interactionFinished(req, res, { login: { accountId: user.username } }, {
      mergeWithLastSubmission: false,
    });
    return;
  }
  res.writeHead(405).end();
}

async function signAccessToken({ sub, roles, department, clientId, ttl }) {
  const signing = keys[0];
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    roles,
    ...(department ? { department } : {}),
    client_id: clientId,
    scope: 'api',
    jti: crypto.randomBytes(32).toString('base64url'), // as long as the provider's own
  })
    .setProtectedHeader({ alg: 'RS256', kid: signing.kid, typ: 'at+jwt' })
    .setIssuer(config.issuer)
    .setAudience(config.audience)
    .setSubject(sub)
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(await importJWK(signing, 'RS256'));
}

function sendJson(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

async function testToken(req, res) {
  const body = JSON.parse(await readBody(req));
  const token = await signAccessToken({
    sub: body.sub,
    roles: body.roles ?? [],
    department: body.department,
    clientId: body.client_id ?? 'tousu-tests',
    ttl: body.ttl ?? config.access_token_ttl,
  });
  sendJson(res, 200, { access_token: token, token_type: 'Bearer' });
}

const DEV_TOKEN_MAX_TTL = 30 * 24 * 3600;

// The dev admin client (the one with `dev_issuer: true` in the config), if the
// request authenticates as it with HTTP Basic; otherwise undefined.
function devClientOf(req) {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/.exec(req.headers.authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const client = clients.get(decoded.slice(0, colon));
  if (!client || !client.dev_issuer || !client.client_secret) return undefined;
  const expected = Buffer.from(client.client_secret, 'utf8');
  const given = Buffer.from(decoded.slice(colon + 1), 'utf8');
  if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) return undefined;
  return client;
}

function devTokenRequest(body) {
  const problems = [];
  if (typeof body.sub !== 'string' || !body.sub.trim() || body.sub.length > 255) {
    problems.push('sub: a non-empty string of at most 255 characters');
  }
  if (!Array.isArray(body.roles) || !body.roles.every((r) => typeof r === 'string' && r)) {
    problems.push('roles: a list of role names');
  }
  if (body.department != null && (typeof body.department !== 'string' || !body.department)) {
    problems.push('department: a string or null');
  }
  const ttl = body.ttl ?? config.access_token_ttl;
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > DEV_TOKEN_MAX_TTL) {
    problems.push(`ttl: whole seconds, 1 to ${DEV_TOKEN_MAX_TTL}`);
  }
  return { problems, ttl };
}

async function devToken(req, res) {
  const client = devClientOf(req);
  if (!client) {
    sendJson(res, 401, {
      error: 'invalid_client',
      error_description: 'dev token issuance needs the dev admin client\'s id and secret (HTTP Basic)',
    }, { 'www-authenticate': 'Basic realm="tousu-dev-issuance"' });
    return;
  }
  let body;
  try {
    body = JSON.parse(await readBody(req));
  } catch {
    sendJson(res, 400, { error: 'invalid_request', error_description: 'body: a JSON object' });
    return;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    sendJson(res, 400, { error: 'invalid_request', error_description: 'body: a JSON object' });
    return;
  }
  const { problems, ttl } = devTokenRequest(body);
  if (problems.length) {
    sendJson(res, 400, { error: 'invalid_request', error_description: problems.join('; ') });
    return;
  }
  const token = await signAccessToken({
    sub: body.sub,
    roles: body.roles,
    department: body.department,
    clientId: client.client_id,
    ttl,
  });
  console.log(`dev token issued to ${client.client_id}: sub=${body.sub} roles=${body.roles.join(',')}`);
  sendJson(res, 200, { access_token: token, token_type: 'Bearer', expires_in: ttl });
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, config.issuer);
    const match = url.pathname.match(/^\/interaction\/([\w-]+)(?:\/(login))?$/);
    if (match) {
      await interaction(req, res, match[1], match[2]);
      return;
    }
    if (config.test_issuance && req.method === 'POST' && url.pathname === '/_test/token') {
      await testToken(req, res);
      return;
    }
    if (config.dev_issuance && req.method === 'POST' && url.pathname === '/_dev/token') {
      await devToken(req, res);
      return;
    }
    handler(req, res);
  } catch (error) {
    if (!res.headersSent) {
      res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    }
    res.end(`error: ${error.message}`);
  }
});

process.on('SIGUSR1', () => {
  keys = loadKeys();
  provider = build();
  handler = provider.callback();
  console.log(`keys read again: signing key ${keys[0].kid}; published ${keys.map((k) => k.kid).join(',')}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
process.on('SIGINT', () => server.close(() => process.exit(0)));

server.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${config.issuer}`);
});
