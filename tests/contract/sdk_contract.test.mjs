// Contract test: the real local server driven by the PocketBase JS SDK (0.25, as the
// One-Click frontend uses it) and by plain fetch for the custom /pb routes.
//
// Run by tests/contract/test_js_sdk.py, which starts the server and creates the users:
//   BASE_URL, USER_{A,B,C}_{EMAIL,PASSWORD,ID}, EXPECT_SIGNUP ("true"/"false").
// The calls and bodies mirror reference/one-click-upstream.md §9.1, §9.4 and §9.6.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import PocketBase, { ClientResponseError } from 'pocketbase';

const BASE_URL = need('BASE_URL').replace(/\/+$/, '');
const USERS = Object.fromEntries(
  ['A', 'B', 'C'].map((k) => [
    k,
    {
      email: need(`USER_${k}_EMAIL`),
      password: need(`USER_${k}_PASSWORD`),
      id: need(`USER_${k}_ID`),
      name: process.env[`USER_${k}_NAME`] ?? '',
    },
  ]),
);
const EXPECT_SIGNUP = (process.env.EXPECT_SIGNUP ?? 'false').toLowerCase() === 'true';

const DATE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$/;
const ID = /^[a-z0-9]{15}$/;
// PocketBase's code for a relation id that does not resolve; foreign ids must look the same.
const MISSING_REL = 'validation_missing_rel_records';
const COLLECTION_IDS = {
  users: '_pb_users_auth_',
  projects: '7kff2zw80a7rmbu',
  deployments: 'h2e1cdq94xgdclh',
  rollouts: '22k6ts6gvnp46mc',
  blueprints: 'vs5gr49hpah1g9q',
  autoUpdates: 'zpmsid5xlf5361s',
};
// Schema fields per collection (reference §1.2-§1.7); `expand` only when something expanded.
const FIELDS = {
  users: ['avatar', 'email', 'emailVisibility', 'name', 'username', 'verified'],
  projects: ['avatar', 'description', 'name', 'tags', 'user'],
  deployments: ['avatar', 'blueprint', 'name', 'project', 'user'],
  rollouts: ['deployment', 'endDate', 'hide', 'manifest', 'project', 'startDate', 'user'],
  blueprints: ['avatar', 'description', 'manifest', 'name', 'owner', 'private', 'users'],
  autoUpdates: [
    'credentials', 'deployment', 'interval', 'lastCheck', 'lastError', 'lastTag', 'nextCheck', 'pattern',
    'policy', 'project', 'user', 'webhookSecret',
  ],
};
const SYSTEM = ['collectionId', 'collectionName', 'created', 'id', 'updated'];
// The frontend's updateDataStores() (lib/stores/data.ts).
const FRONTEND_EXPAND = {
  projects: 'blueprint',
  deployments: 'project,blueprint',
  blueprints: 'owner,users',
  autoUpdates: 'project',
  rollouts: 'project,deployment',
};

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is required`);
  return value;
}

function manifest(overrides = {}) {
  return {
    apiVersion: 'one-click.dev/v1alpha1',
    kind: 'Rollout',
    spec: {
      env: [],
      horizontalScale: { maxReplicas: 1, minReplicas: 1, targetCPUUtilizationPercentage: 80 },
      image: {
        password: '',
        registry: 'docker.io',
        repository: 'library/nginx',
        tag: 'latest',
        username: '',
      },
      interfaces: [{ name: 'http', port: 80 }],
      resources: {
        limits: { cpu: '500m', memory: '512Mi' },
        requests: { cpu: '100m', memory: '256Mi' },
      },
      secrets: [],
      serviceAccountName: 'one-click',
      volumes: [],
      ...overrides,
    },
  };
}

let counter = 0;
function unique(prefix) {
  counter += 1;
  return `${prefix}${counter}`.slice(0, 20);
}

async function login(who) {
  const pb = new PocketBase(BASE_URL);
  pb.autoCancellation(false);
  await pb.collection('users').authWithPassword(USERS[who].email, USERS[who].password);
  return pb;
}

/** Await a rejected SDK call and check its status; returns the ClientResponseError. */
async function rejects(promise, status) {
  try {
    const value = await promise;
    assert.fail(`expected HTTP ${status}, got success: ${JSON.stringify(value).slice(0, 300)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(err instanceof ClientResponseError, `not a ClientResponseError: ${err}`);
    if (status !== undefined) {
      assert.equal(
        err.status,
        status,
        `expected HTTP ${status}, got ${err.status}: ${JSON.stringify(err.response)}`,
      );
    }
    assert.equal(typeof err.response.message, 'string');
    assert.equal(typeof err.response.data, 'object');
    return err;
  }
}

function fieldCode(err, field) {
  return err.response?.data?.[field]?.code;
}

function assertRecord(record, collection) {
  assert.match(record.id, ID, `id of ${collection}`);
  assert.equal(record.collectionId, COLLECTION_IDS[collection]);
  assert.equal(record.collectionName, collection);
  assert.match(record.created, DATE);
  assert.match(record.updated, DATE);
  const keys = Object.keys(record).filter((k) => k !== 'expand');
  const expected = [...SYSTEM, ...FIELDS[collection]];
  const optional = collection === 'users' ? ['email'] : []; // hidden unless visible or self
  for (const key of keys) assert.ok(expected.includes(key), `${collection}: unexpected key ${key}`);
  for (const key of expected) {
    if (!optional.includes(key)) assert.ok(key in record, `${collection}: missing key ${key}`);
  }
  if ('expand' in record) {
    assert.equal(typeof record.expand, 'object');
    assert.ok(Object.keys(record.expand).length > 0, 'an empty expand must be omitted');
  }
}

function decodeJwt(token) {
  const parts = token.split('.');
  assert.equal(parts.length, 3, 'token must be a JWT');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

async function customRoute(method, path, token, { bearer = true } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = bearer ? `Bearer ${token}` : token;
  const reply = await fetch(BASE_URL + path, { method, headers });
  const text = await reply.text();
  return { status: reply.status, body: text ? JSON.parse(text) : null };
}

function ids(items) {
  return items.map((r) => r.id);
}

function assertNewestFirst(items) {
  for (let i = 1; i < items.length; i += 1) {
    assert.ok(items[i - 1].created >= items[i].created, 'sort=-created must be newest first');
  }
}

/** A project with one deployment, one rollout and one autoUpdate, owned by `pb`'s user. */
async function makeStack(pb, label) {
  const user = pb.authStore.record.id;
  const project = await pb
    .collection('projects')
    .create({ name: unique(label), description: '', user, tags: 'web,demo' });
  const deployment = await pb
    .collection('deployments')
    .create({ name: 'web', blueprint: '', user, project: project.id });
  const rollout = await pb.collection('rollouts').create({
    manifest: manifest(),
    startDate: '',
    endDate: '',
    project: project.id,
    deployment: deployment.id,
    user,
  });
  const autoUpdate = await pb.collection('autoUpdates').create({
    interval: '5m',
    pattern: '^1\\.\\d+$',
    policy: 'semver',
    project: project.id,
    deployment: deployment.id,
    user,
  });
  return { project, deployment, rollout, autoUpdate };
}

let pbA;
let pbB;
let pbC;

before(async () => {
  const health = await new PocketBase(BASE_URL).health.check();
  assert.equal(health.code, 200);
  [pbA, pbB, pbC] = await Promise.all([login('A'), login('B'), login('C')]);
});

describe('auth', () => {
  test('authWithPassword with the e-mail identity stores a valid JWT and the record', async () => {
    const pb = new PocketBase(BASE_URL);
    const auth = await pb.collection('users').authWithPassword(USERS.A.email, USERS.A.password);
    assert.equal(typeof auth.token, 'string');
    assert.equal(auth.record.id, USERS.A.id);
    assertRecord(auth.record, 'users');
    assert.equal(auth.record.email, USERS.A.email);
    assert.equal(auth.record.name, USERS.A.name);
    assert.equal(auth.record.avatar, '');
    assert.equal(auth.record.verified, false);
    assert.equal(typeof auth.record.username, 'string');
    assert.equal(typeof auth.record.emailVisibility, 'boolean');
    for (const secret of ['password', 'passwordHash', 'tokenKey']) {
      assert.ok(!(secret in auth.record), `${secret} must never leave the server`);
    }
    assert.equal(pb.authStore.isValid, true);
    assert.equal(pb.authStore.token, auth.token);
    assert.equal(pb.authStore.record.id, USERS.A.id);
    assert.equal(pb.authStore.isSuperuser, false);
    const claims = decodeJwt(auth.token);
    assert.equal(typeof claims.exp, 'number');
    assert.ok(claims.exp > Date.now() / 1000 + 60, 'exp must lie in the future');
    assert.equal(claims.id, USERS.A.id);
  });

  test('a wrong password is a 400 and leaves the store empty', async () => {
    const pb = new PocketBase(BASE_URL);
    await rejects(pb.collection('users').authWithPassword(USERS.A.email, 'wrong-password-1'), 400);
    assert.equal(pb.authStore.isValid, false);
  });

  test('authRefresh returns a fresh token and the record', async () => {
    const pb = await login('A');
    const refreshed = await pb.collection('users').authRefresh();
    assert.equal(refreshed.record.id, USERS.A.id);
    assert.equal(pb.authStore.token, refreshed.token);
    assert.equal(pb.authStore.isValid, true);
    assert.ok(decodeJwt(refreshed.token).exp > Date.now() / 1000);
  });

  test('authRefresh without a token is refused', async () => {
    const pb = new PocketBase(BASE_URL);
    await rejects(pb.collection('users').authRefresh(), 401);
  });

  test('listAuthMethods answers authProviders (the shape the frontend reads)', async () => {
    const pb = new PocketBase(BASE_URL);
    const methods = await pb.collection('users').listAuthMethods();
    assert.ok(Array.isArray(methods.authProviders), JSON.stringify(methods));
    assert.equal(methods.password?.enabled, true, 'SDK 0.25 shape: password.enabled');
    assert.ok(Array.isArray(methods.oauth2?.providers), 'SDK 0.25 shape: oauth2.providers');
  });

  test('authWithOAuth2Code signs in through a provider (local Google)', async () => {
    const redirect = 'http://127.0.0.1:5173/oauth2-redirect';
    async function consent(pb, loginHint) {
      const methods = await pb.collection('users').listAuthMethods();
      const google = methods.oauth2.providers.find((p) => p.name === 'google');
      assert.ok(google, JSON.stringify(methods.oauth2));
      const url = google.authURL + encodeURIComponent(redirect) + '&login_hint=' + loginHint;
      const reply = await fetch(url, { redirect: 'manual' });
      assert.equal(reply.status, 302);
      const back = new URL(reply.headers.get('location')).searchParams;
      assert.equal(back.get('state'), google.state, 'the SDK compares state client-side');
      return [google, back.get('code')];
    }
    const pb = new PocketBase(BASE_URL);
    const [google, code] = await consent(pb, need('OAUTH2_MEMBER'));
    const auth = await pb
      .collection('users')
      .authWithOAuth2Code('google', code, google.codeVerifier, redirect, { name: 'ignored' });
    assert.equal(auth.record.id, need('OAUTH2_USER_ID'));
    assert.equal(auth.meta.isNew, false);
    assert.equal(auth.record.verified, true);
    assert.ok(pb.authStore.isValid && pb.authStore.record.id === auth.record.id);
    const [again, code2] = await consent(pb, need('OAUTH2_STRANGER'));
    const stranger = pb
      .collection('users')
      .authWithOAuth2Code('google', code2, again.codeVerifier, redirect);
    if (EXPECT_SIGNUP) {
      assert.equal((await stranger).meta.isNew, true);
    } else {
      await rejects(stranger, 400);
    }
    const [, code3] = await consent(pb, need('OAUTH2_MEMBER'));
    await rejects(
      pb.collection('users').authWithOAuth2Code('google', code3, 'forged'.repeat(8), redirect),
      400,
    );
  });

  test('both "Authorization: <jwt>" and "Bearer <jwt>" authenticate', async () => {
    const path = '/api/collections/users/records/' + USERS.A.id;
    for (const bearer of [false, true]) {
      const reply = await customRoute('GET', path, pbA.authStore.token, { bearer });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.id, USERS.A.id);
    }
  });

  test('authWithPassword also accepts the username identity', async () => {
    const pb = new PocketBase(BASE_URL);
    const byEmail = await pb.collection('users').authWithPassword(USERS.B.email, USERS.B.password);
    const username = byEmail.record.username;
    assert.equal(typeof username, 'string');
    assert.ok(username.length >= 3);
    pb.authStore.clear();
    const byName = await pb.collection('users').authWithPassword(username, USERS.B.password);
    assert.equal(byName.record.id, USERS.B.id);
  });

  test('an unknown collection is a 404', async () => {
    await rejects(pbA.collection('nope').getList(1, 10), 404);
  });

  test('CORS for the dev frontend (localhost:5173 -> server)', async () => {
    const origin = 'http://localhost:5173';
    const preflight = await fetch(`${BASE_URL}/api/collections/projects/records/abc`, {
      method: 'OPTIONS',
      headers: {
        Origin: origin,
        'Access-Control-Request-Method': 'PATCH',
        'Access-Control-Request-Headers': 'authorization,content-type',
      },
    });
    assert.ok(preflight.status === 200 || preflight.status === 204, `status ${preflight.status}`);
    const allowed = preflight.headers.get('access-control-allow-origin');
    assert.ok(allowed === '*' || allowed === origin, `allow-origin ${allowed}`);
    const methods = (preflight.headers.get('access-control-allow-methods') || '').toUpperCase();
    assert.ok(methods.includes('PATCH'), `allow-methods ${methods}`);
    const headers = (preflight.headers.get('access-control-allow-headers') || '').toLowerCase();
    assert.ok(headers.includes('authorization') || headers === '*', `allow-headers ${headers}`);

    for (const path of ['/pb/blueprints/shared/aaaaaaaaaaaaaaa', '/api/pb/blueprints/shared/aaaaaaaaaaaaaaa']) {
      const custom = await fetch(BASE_URL + path, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': 'POST',
          'Access-Control-Request-Headers': 'authorization,content-type',
        },
      });
      assert.ok(custom.status === 200 || custom.status === 204, `${path}: status ${custom.status}`);
      const customOrigin = custom.headers.get('access-control-allow-origin');
      assert.ok(customOrigin === '*' || customOrigin === origin, `${path}: allow-origin ${customOrigin}`);
    }

    const reply = await fetch(`${BASE_URL}/api/collections/projects/records`, {
      headers: { Origin: origin, Authorization: pbA.authStore.token },
    });
    assert.equal(reply.status, 200);
    const actual = reply.headers.get('access-control-allow-origin');
    assert.ok(actual === '*' || actual === origin, `allow-origin ${actual}`);
  });

  test('anonymous callers get empty lists and 404s', async () => {
    const { project } = await makeStack(pbA, 'anon');
    const anon = new PocketBase(BASE_URL);
    const list = await anon.collection('projects').getList(1, 10);
    assert.deepEqual(list.items, []);
    await rejects(anon.collection('projects').getOne(project.id), 404);
    await pbA.collection('projects').delete(project.id);
  });
});

describe('projects CRUD', () => {
  test('create / getOne / update / delete with the frontend bodies', async () => {
    const name = unique('proj');
    const created = await pbA
      .collection('projects')
      .create({ name, description: 'a project', user: USERS.A.id, tags: 'web,api-v2' });
    assertRecord(created, 'projects');
    assert.equal(created.name, name);
    assert.equal(created.description, 'a project');
    assert.equal(created.user, USERS.A.id);
    assert.equal(created.tags, 'web,api-v2');
    assert.equal(created.avatar, '');
    assert.ok(!('expand' in created));

    const fetched = await pbA.collection('projects').getOne(created.id);
    assert.deepEqual(fetched, created);

    const tagged = await pbA.collection('projects').update(created.id, { tags: 'web' });
    assert.equal(tagged.tags, 'web');
    assert.equal(tagged.name, name);
    assert.match(tagged.updated, DATE);
    assert.ok(tagged.updated >= created.updated);
    const renamed = await pbA.collection('projects').update(created.id, { name: 'renamed' });
    assert.equal(renamed.name, 'renamed');
    assert.equal(renamed.tags, 'web');
    assert.equal(renamed.created, created.created);

    assert.equal(await pbA.collection('projects').delete(created.id), true);
    await rejects(pbA.collection('projects').getOne(created.id), 404);
    await rejects(pbA.collection('projects').delete(created.id), 404);
  });

  test('validation errors carry per-field codes', async () => {
    const tooLong = await rejects(
      pbA.collection('projects').create({ name: 'x'.repeat(21), user: USERS.A.id }),
      400,
    );
    assert.equal(fieldCode(tooLong, 'name'), 'validation_max_text_constraint');
    assert.equal(typeof tooLong.response.data.name.message, 'string');

    const missing = await rejects(
      pbA.collection('projects').create({ description: 'no name', user: USERS.A.id }),
      400,
    );
    assert.equal(fieldCode(missing, 'name'), 'validation_required');

    const project = await pbA.collection('projects').create({ name: unique('v'), user: USERS.A.id });
    const blank = await rejects(pbA.collection('projects').update(project.id, { name: '' }), 400);
    assert.equal(fieldCode(blank, 'name'), 'validation_required');
    await pbA.collection('projects').delete(project.id);
  });

  test('limits count characters, not bytes; unlimited texts take long values', async () => {
    const exact = await pbA.collection('projects').create({
      name: 'ü'.repeat(19) + '🚀',
      description: 'd'.repeat(2000),
      user: USERS.A.id,
    });
    assert.equal(exact.name, 'ü'.repeat(19) + '🚀');
    assert.equal(exact.description.length, 2000);
    const over = await rejects(
      pbA.collection('projects').create({ name: 'ü'.repeat(21), user: USERS.A.id }),
      400,
    );
    assert.equal(fieldCode(over, 'name'), 'validation_max_text_constraint');
    await pbA.collection('projects').delete(exact.id);

    const bp = await pbA.collection('blueprints').create({
      name: 'n'.repeat(20),
      description: 'é'.repeat(50),
      private: true,
      manifest: manifest(),
      owner: USERS.A.id,
    });
    assert.equal(bp.description, 'é'.repeat(50));
    await pbA.collection('blueprints').delete(bp.id);
  });

  test('another user cannot read, change or delete the project (404), nor create for it', async () => {
    const project = await pbA.collection('projects').create({ name: unique('priv'), user: USERS.A.id });
    await rejects(pbB.collection('projects').getOne(project.id), 404);
    await rejects(pbB.collection('projects').update(project.id, { name: 'stolen' }), 404);
    await rejects(pbB.collection('projects').delete(project.id), 404);
    const listed = await pbB.collection('projects').getFullList({ sort: '-created' });
    assert.ok(!ids(listed).includes(project.id));
    await rejects(pbB.collection('projects').create({ name: 'evil', user: USERS.A.id }), 400);
    const still = await pbA.collection('projects').getOne(project.id);
    assert.equal(still.name, project.name);
    await pbA.collection('projects').delete(project.id);
  });
});

describe('deployments CRUD', () => {
  test('create / getOne (expand) / update with the full record / delete', async () => {
    const project = await pbA.collection('projects').create({ name: unique('dep'), user: USERS.A.id });
    const blueprint = await pbA.collection('blueprints').create({
      name: unique('bp-dep'),
      description: 'for a deployment',
      private: false,
      manifest: manifest(),
      owner: USERS.A.id,
    });
    const created = await pbA
      .collection('deployments')
      .create({ name: 'web', blueprint: blueprint.id, user: USERS.A.id, project: project.id });
    assertRecord(created, 'deployments');
    assert.equal(created.name, 'web');
    assert.equal(created.project, project.id);
    assert.equal(created.blueprint, blueprint.id);
    assert.equal(created.avatar, '');

    const fetched = await pbA
      .collection('deployments')
      .getOne(created.id, { expand: 'project,blueprint' });
    assert.equal(fetched.expand.project.id, project.id);
    assert.equal(fetched.expand.project.collectionName, 'projects');
    assert.equal(fetched.expand.blueprint.id, blueprint.id);

    // The settings page sends the whole record back, expand and system fields included.
    const updated = await pbA
      .collection('deployments')
      .update(created.id, { ...fetched, name: 'web-renamed' });
    assert.equal(updated.name, 'web-renamed');
    assert.equal(updated.id, created.id);
    assert.equal(updated.created, created.created);
    assert.equal(updated.project, project.id);
    assert.equal(updated.collectionId, COLLECTION_IDS.deployments);

    const noBlueprint = await pbA
      .collection('deployments')
      .create({ name: 'plain', blueprint: '', user: USERS.A.id, project: project.id });
    assert.equal(noBlueprint.blueprint, '');

    await pbA.collection('deployments').delete(created.id);
    await rejects(pbA.collection('deployments').getOne(created.id), 404);
    await pbA.collection('projects').delete(project.id);
    await pbA.collection('blueprints').delete(blueprint.id);
  });

  test('a missing project is a validation error', async () => {
    const err = await rejects(
      pbA.collection('deployments').create({ name: 'x', blueprint: '', user: USERS.A.id }),
      400,
    );
    assert.equal(fieldCode(err, 'project'), 'validation_required');
  });
});

describe('rollouts CRUD', () => {
  test('create with empty dates / getOne / hide / rollback body / delete', async () => {
    const { project, deployment, rollout } = await makeStack(pbA, 'ro');
    assertRecord(rollout, 'rollouts');
    assert.equal(rollout.endDate, '', 'a running rollout has endDate ""');
    assert.ok(rollout.startDate === '' || DATE.test(rollout.startDate), rollout.startDate);
    assert.equal(rollout.hide, false);
    assert.deepEqual(rollout.manifest, manifest());
    assert.equal(rollout.project, project.id);
    assert.equal(rollout.deployment, deployment.id);
    assert.equal(rollout.user, USERS.A.id);

    const fetched = await pbA.collection('rollouts').getOne(rollout.id);
    assert.deepEqual(fetched, rollout);

    const hidden = await pbA.collection('rollouts').update(rollout.id, { hide: true });
    assert.equal(hidden.hide, true);
    assert.equal(hidden.endDate, '');

    // RolloutsTable's rollback body: an ISO start date is normalized to PocketBase's format.
    const rolled = await pbA.collection('rollouts').update(rollout.id, {
      manifest: manifest({ image: { ...manifest().spec.image, tag: '1.27' } }),
      startDate: new Date().toISOString(),
      endDate: '',
      project: project.id,
      deployment: deployment.id,
      user: USERS.A.id,
      hide: false,
    });
    assert.equal(rolled.hide, false);
    assert.equal(rolled.endDate, '');
    assert.match(rolled.startDate, DATE);
    assert.equal(rolled.manifest.spec.image.tag, '1.27');

    const missing = await rejects(
      pbA.collection('rollouts').create({
        startDate: '',
        endDate: '',
        project: project.id,
        deployment: deployment.id,
        user: USERS.A.id,
      }),
      400,
    );
    assert.equal(fieldCode(missing, 'manifest'), 'validation_required');

    await pbA.collection('rollouts').delete(rollout.id);
    await rejects(pbA.collection('rollouts').getOne(rollout.id), 404);
    await pbA.collection('projects').delete(project.id);
  });
});

describe('autoUpdates CRUD', () => {
  test('create / getOne / update with the same body / delete', async () => {
    const { project, deployment, autoUpdate } = await makeStack(pbA, 'au');
    assertRecord(autoUpdate, 'autoUpdates');
    assert.equal(autoUpdate.interval, '5m');
    assert.equal(autoUpdate.pattern, '^1\\.\\d+$');
    assert.equal(autoUpdate.policy, 'semver');
    assert.equal(autoUpdate.project, project.id);
    assert.equal(autoUpdate.deployment, deployment.id);

    const fetched = await pbA.collection('autoUpdates').getOne(autoUpdate.id);
    assert.deepEqual(fetched, autoUpdate);

    const updated = await pbA.collection('autoUpdates').update(autoUpdate.id, {
      interval: '1h',
      pattern: '',
      policy: 'latest',
      project: project.id,
      deployment: deployment.id,
      user: USERS.A.id,
    });
    assert.equal(updated.interval, '1h');
    assert.equal(updated.pattern, '');
    assert.equal(updated.policy, 'latest');

    await pbA.collection('autoUpdates').delete(autoUpdate.id);
    await rejects(pbA.collection('autoUpdates').getOne(autoUpdate.id), 404);
    await pbA.collection('projects').delete(project.id);
  });
});

describe('blueprints CRUD', () => {
  test('create / getOne / update with the card body / delete', async () => {
    const created = await pbA.collection('blueprints').create({
      name: unique('bp'),
      description: 'nginx',
      private: true,
      manifest: manifest(),
      owner: USERS.A.id,
    });
    assertRecord(created, 'blueprints');
    assert.equal(created.private, true);
    assert.deepEqual(created.users, []);
    assert.equal(created.avatar, '');
    assert.deepEqual(created.manifest, manifest());

    const fetched = await pbA.collection('blueprints').getOne(created.id);
    assert.deepEqual(fetched, created);

    // BlueprintCard: {...blueprint, name, description, private, manifest}.
    const updated = await pbA.collection('blueprints').update(created.id, {
      ...fetched,
      name: 'nginx-2',
      description: 'changed',
      private: false,
      manifest: manifest({ interfaces: [{ name: 'http', port: 8080 }] }),
    });
    assert.equal(updated.name, 'nginx-2');
    assert.equal(updated.description, 'changed');
    assert.equal(updated.private, false);
    assert.equal(updated.manifest.spec.interfaces[0].port, 8080);

    const long = await rejects(
      pbA.collection('blueprints').update(created.id, { description: 'd'.repeat(51) }),
      400,
    );
    assert.equal(fieldCode(long, 'description'), 'validation_max_text_constraint');
    const noManifest = await rejects(
      pbA.collection('blueprints').create({ name: 'x', owner: USERS.A.id, private: false }),
      400,
    );
    assert.equal(fieldCode(noManifest, 'manifest'), 'validation_required');

    await pbA.collection('blueprints').delete(created.id);
    await rejects(pbA.collection('blueprints').getOne(created.id), 404);
  });

  test('a blueprint cannot be created for someone else', async () => {
    await rejects(
      pbB.collection('blueprints').create({
        name: 'x',
        description: '',
        private: false,
        manifest: manifest(),
        owner: USERS.A.id,
      }),
      400,
    );
  });
});

describe('users CRUD', () => {
  test('create (sign-up) follows the server setting', async () => {
    const anon = new PocketBase(BASE_URL);
    const body = {
      email: `signup-${Date.now()}@example.com`,
      password: 'signup-password-1',
      passwordConfirm: 'signup-password-1',
      name: 'Signup',
    };
    if (EXPECT_SIGNUP) {
      const user = await anon.collection('users').create(body);
      assertRecord(user, 'users');
      const pb = new PocketBase(BASE_URL);
      await pb.collection('users').authWithPassword(body.email, body.password);
      await pb.collection('users').delete(user.id);
    } else {
      await rejects(anon.collection('users').create(body), 403);
    }
  });

  test('getOne self, update name, others are invisible', async () => {
    const me = await pbA.collection('users').getOne(USERS.A.id);
    assertRecord(me, 'users');
    assert.equal(me.email, USERS.A.email);
    assert.equal(me.avatar, '');
    assert.equal(typeof me.verified, 'boolean');

    const renamed = await pbA.collection('users').update(USERS.A.id, { name: 'Alice Updated' });
    assert.equal(renamed.name, 'Alice Updated');
    // The SDK refreshes its own auth record after updating it.
    assert.equal(pbA.authStore.record.name, 'Alice Updated');
    assert.equal(pbA.authStore.isValid, true);

    await rejects(pbB.collection('users').getOne(USERS.A.id), 404);
    await rejects(pbB.collection('users').update(USERS.A.id, { name: 'x' }), 404);
    await rejects(pbB.collection('users').delete(USERS.A.id), 404);
    const visible = await pbB.collection('users').getFullList();
    assert.ok(!ids(visible).includes(USERS.A.id));
    assert.ok(ids(visible).includes(USERS.B.id));
  });
});

describe('lists as updateDataStores() asks for them', () => {
  let stackA;
  let stackB;
  let bpPublic;
  let bpPrivate;

  before(async () => {
    bpPublic = await pbA.collection('blueprints').create({
      name: unique('pub'),
      description: '',
      private: false,
      manifest: manifest(),
      owner: USERS.A.id,
    });
    bpPrivate = await pbA.collection('blueprints').create({
      name: unique('prv'),
      description: '',
      private: true,
      manifest: manifest(),
      owner: USERS.A.id,
    });
    stackA = await makeStack(pbA, 'listA');
    stackB = await makeStack(pbB, 'listB');
    await pbA
      .collection('deployments')
      .update(stackA.deployment.id, { blueprint: bpPublic.id });
  });

  after(async () => {
    await pbA.collection('projects').delete(stackA.project.id);
    await pbB.collection('projects').delete(stackB.project.id);
    await pbA.collection('blueprints').delete(bpPublic.id);
    await pbA.collection('blueprints').delete(bpPrivate.id);
  });

  for (const [collection, expand] of Object.entries(FRONTEND_EXPAND)) {
    test(`${collection}: getFullList({sort: '-created', expand: '${expand}'})`, async () => {
      const items = await pbA.collection(collection).getFullList({ sort: '-created', expand });
      assert.ok(items.length > 0);
      assertNewestFirst(items);
      const targets = {
        project: 'projects',
        deployment: 'deployments',
        blueprint: 'blueprints',
        owner: 'users',
        users: 'users',
      };
      for (const item of items) {
        assertRecord(item, collection);
        for (const [key, value] of Object.entries(item.expand ?? {})) {
          assert.ok(expand.split(',').includes(key), `${collection}: unrequested expand ${key}`);
          for (const one of Array.isArray(value) ? value : [value]) {
            assertRecord(one, targets[key]);
          }
        }
      }
      const own = {
        projects: stackA.project,
        deployments: stackA.deployment,
        rollouts: stackA.rollout,
        autoUpdates: stackA.autoUpdate,
        blueprints: bpPrivate,
      }[collection];
      const item = items.find((r) => r.id === own.id);
      assert.ok(item, `${collection}: own record listed`);
      const foreign = {
        projects: stackB.project,
        deployments: stackB.deployment,
        rollouts: stackB.rollout,
        autoUpdates: stackB.autoUpdate,
      }[collection];
      if (foreign) assert.ok(!ids(items).includes(foreign.id), `${collection}: B's row leaked`);

      if (collection === 'projects') {
        assert.ok(!('expand' in item), 'unknown expand path must be ignored silently');
      } else if (collection === 'deployments') {
        assert.equal(item.expand.project.id, stackA.project.id);
        assert.equal(item.expand.project.collectionName, 'projects');
        assert.equal(item.expand.blueprint.id, bpPublic.id);
        assert.equal(item.expand.blueprint.collectionName, 'blueprints');
      } else if (collection === 'rollouts') {
        assert.equal(item.expand.project.id, stackA.project.id);
        assert.equal(item.expand.deployment.id, stackA.deployment.id);
        assert.equal(item.expand.deployment.collectionName, 'deployments');
        assert.equal(item.endDate, '');
      } else if (collection === 'autoUpdates') {
        assert.equal(item.expand.project.id, stackA.project.id);
        assert.match(item.expand.project.created, DATE);
      } else if (collection === 'blueprints') {
        assert.equal(item.expand.owner.id, USERS.A.id);
        assert.equal(item.expand.owner.collectionName, 'users');
        assert.ok(!('users' in item.expand), 'no subscribers: nothing to expand');
      }
    });
  }

  test('updateDataStores() fires all lists at once', async () => {
    const pb = await login('A');
    const lists = await Promise.all(
      Object.entries(FRONTEND_EXPAND).map(([collection, expand]) =>
        pb.collection(collection).getFullList({ sort: '-created', expand }),
      ),
    );
    for (const items of lists) assert.ok(items.length > 0);
  });

  test('the raw list request of the SDK echoes perPage and skips totals', async () => {
    const reply = await customRoute(
      'GET',
      '/api/collections/projects/records?page=1&perPage=500&skipTotal=1&sort=-created&expand=blueprint',
      pbA.authStore.token,
      { bearer: false },
    );
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.page, 1);
    assert.equal(reply.body.perPage, 500);
    assert.equal(reply.body.totalItems, -1);
    assert.equal(reply.body.totalPages, -1);
    assert.ok(Array.isArray(reply.body.items));
  });

  test('getList pagination with totals, skipTotal and a batched getFullList', async () => {
    const pb = await login('B');
    const made = [];
    for (let i = 0; i < 5; i += 1) {
      made.push(await pb.collection('projects').create({ name: `page-${i}`, user: USERS.B.id }));
    }
    const mine = await pb.collection('projects').getFullList({ sort: '-created' });
    const total = mine.length;
    assert.ok(total >= 5);

    const first = await pb.collection('projects').getList(1, 2, { sort: '-created' });
    assert.equal(first.page, 1);
    assert.equal(first.perPage, 2);
    assert.equal(first.totalItems, total);
    assert.equal(first.totalPages, Math.ceil(total / 2));
    assert.equal(first.items.length, 2);
    assert.deepEqual(ids(first.items), ids(mine).slice(0, 2));

    const last = await pb.collection('projects').getList(first.totalPages, 2, { sort: '-created' });
    assert.equal(last.items.length, total % 2 === 0 ? 2 : 1);
    const beyond = await pb.collection('projects').getList(first.totalPages + 1, 2);
    assert.deepEqual(beyond.items, []);

    const skipped = await pb.collection('projects').getList(1, 2, { skipTotal: true });
    assert.equal(skipped.totalItems, -1);
    assert.equal(skipped.totalPages, -1);
    assert.equal(skipped.items.length, 2);

    const batched = await pb.collection('projects').getFullList({ batch: 2, sort: '-created' });
    assert.deepEqual(ids(batched), ids(mine));

    for (const project of made) await pb.collection('projects').delete(project.id);
  });

  test('filter built with pb.filter() on own fields', async () => {
    const byName = await pbA.collection('projects').getList(1, 50, {
      filter: pbA.filter('name = {:name}', { name: stackA.project.name }),
    });
    assert.deepEqual(ids(byName.items), [stackA.project.id]);

    const byTag = await pbA.collection('projects').getFullList({
      filter: pbA.filter('tags ~ {:tag} && user = {:user}', { tag: 'demo', user: USERS.A.id }),
    });
    assert.ok(ids(byTag).includes(stackA.project.id));

    const running = await pbA.collection('rollouts').getFullList({
      filter: pbA.filter('deployment = {:d} && endDate = ""', { d: stackA.deployment.id }),
      sort: '-created',
    });
    assert.deepEqual(ids(running), [stackA.rollout.id]);

    // Filtering on B's project id from A's side finds nothing.
    const foreign = await pbA.collection('deployments').getFullList({
      filter: pbA.filter('project = {:p}', { p: stackB.project.id }),
    });
    assert.deepEqual(foreign, []);
  });

  test('filter operators on own fields behave like PocketBase 0.22', async () => {
    const made = [];
    for (const [name, tags] of [
      [`O'Brien "q" ${counter}`, 'alpha,beta'],
      [`Alpha-${counter}`, 'gamma'],
    ]) {
      made.push(await pbA.collection('projects').create({ name, tags, user: USERS.A.id }));
    }
    const [quoted, alpha] = made;
    const find = async (filter) =>
      ids(await pbA.collection('projects').getFullList({ filter, sort: '-created' }));
    try {
      // pb.filter escapes quotes inside the value.
      assert.deepEqual(await find(pbA.filter('name = {:n}', { n: quoted.name })), [quoted.id]);
      // ~ is a case-insensitive "contains", !~ its negation.
      const like = await find(pbA.filter('name ~ {:n}', { n: alpha.name.toUpperCase() }));
      assert.deepEqual(like, [alpha.id]);
      const unlike = await find(pbA.filter('name !~ {:n}', { n: 'alpha-' }));
      assert.ok(unlike.includes(quoted.id) && !unlike.includes(alpha.id));
      // || and parentheses; && binds tighter.
      const either = await find(
        pbA.filter('(tags ~ {:a} || tags = {:g}) && user = {:u}', {
          a: 'beta',
          g: 'gamma',
          u: USERS.A.id,
        }),
      );
      assert.ok(either.includes(quoted.id) && either.includes(alpha.id));
      // A Date argument is formatted by the SDK as "YYYY-MM-DD HH:MM:SS.sssZ".
      const since = new Date(Date.parse(quoted.created.replace(' ', 'T')) - 1);
      const recent = await find(pbA.filter('created >= {:since}', { since }));
      assert.ok(recent.includes(quoted.id) && recent.includes(alpha.id));
      const none = await find(pbA.filter('created > {:t}', { t: new Date(Date.now() + 3600e3) }));
      assert.deepEqual(none, []);
      // Bools and the empty-date test the frontend does client-side.
      const shown = await pbA.collection('rollouts').getFullList({
        filter: 'hide = false && endDate = ""',
      });
      assert.ok(ids(shown).includes(stackA.rollout.id));
      const nullDate = await pbA.collection('rollouts').getFullList({ filter: 'endDate = null' });
      assert.ok(ids(nullDate).includes(stackA.rollout.id), 'null compares equal to ""');
      // A malformed filter is a 400, never an empty 200.
      await rejects(pbA.collection('projects').getList(1, 10, { filter: 'name = ' }), 400);
    } finally {
      for (const project of made) await pbA.collection('projects').delete(project.id);
    }
  });

  test('public blueprints are listed for everyone, private ones only for the owner', async () => {
    const seenByB = await pbB.collection('blueprints').getFullList({
      sort: '-created',
      expand: 'owner,users',
    });
    assert.ok(ids(seenByB).includes(bpPublic.id));
    assert.ok(!ids(seenByB).includes(bpPrivate.id));
    const publicForB = await pbB.collection('blueprints').getOne(bpPublic.id);
    assert.equal(publicForB.owner, USERS.A.id);
    await rejects(pbB.collection('blueprints').getOne(bpPrivate.id), 404);
    await rejects(pbB.collection('blueprints').update(bpPrivate.id, { name: 'x' }), 404);
    await rejects(pbB.collection('blueprints').delete(bpPrivate.id), 404);
  });
});

describe('cross-tenant writes are refused', () => {
  let stackA;
  let projectB;
  let deploymentB;

  before(async () => {
    stackA = await makeStack(pbA, 'xA');
    projectB = await pbB.collection('projects').create({ name: unique('xB'), user: USERS.B.id });
    deploymentB = await pbB
      .collection('deployments')
      .create({ name: 'b', blueprint: '', user: USERS.B.id, project: projectB.id });
  });

  after(async () => {
    await pbA.collection('projects').delete(stackA.project.id);
    await pbB.collection('projects').delete(projectB.id);
  });

  test("B cannot read or change A's deployment, rollout and autoUpdate (404)", async () => {
    for (const [collection, record] of [
      ['deployments', stackA.deployment],
      ['rollouts', stackA.rollout],
      ['autoUpdates', stackA.autoUpdate],
    ]) {
      await rejects(pbB.collection(collection).getOne(record.id), 404);
      await rejects(pbB.collection(collection).update(record.id, { user: USERS.B.id }), 404);
      await rejects(pbB.collection(collection).delete(record.id), 404);
      const listed = await pbB.collection(collection).getFullList({ sort: '-created' });
      assert.ok(!ids(listed).includes(record.id), `${collection} leaked`);
    }
  });

  test("a rollout pointing at A's project and deployment is a 400 on both fields", async () => {
    const err = await rejects(
      pbB.collection('rollouts').create({
        manifest: manifest(),
        startDate: '',
        endDate: '',
        project: stackA.project.id,
        deployment: stackA.deployment.id,
        user: USERS.B.id,
      }),
      400,
    );
    assert.equal(fieldCode(err, 'project'), MISSING_REL, JSON.stringify(err.response));
    assert.equal(fieldCode(err, 'deployment'), MISSING_REL, JSON.stringify(err.response));
  });

  test("a rollout on B's project with A's deployment is a 400 on deployment", async () => {
    const err = await rejects(
      pbB.collection('rollouts').create({
        manifest: manifest(),
        startDate: '',
        endDate: '',
        project: projectB.id,
        deployment: stackA.deployment.id,
        user: USERS.B.id,
      }),
      400,
    );
    assert.equal(fieldCode(err, 'deployment'), MISSING_REL, JSON.stringify(err.response));
    assert.equal(fieldCode(err, 'project'), undefined);
  });

  test('a foreign id is reported exactly like a nonexistent one', async () => {
    const attempt = (project) =>
      rejects(
        pbB
          .collection('deployments')
          .create({ name: 'probe', blueprint: '', user: USERS.B.id, project }),
        400,
      );
    const foreign = await attempt(stackA.project.id);
    const missing = await attempt('zzzzzzzzzzzzzzz');
    assert.deepEqual(foreign.response, missing.response);
  });

  test("a deployment in A's project is a 400 on project", async () => {
    const err = await rejects(
      pbB
        .collection('deployments')
        .create({ name: 'evil', blueprint: '', user: USERS.B.id, project: stackA.project.id }),
      400,
    );
    assert.equal(fieldCode(err, 'project'), MISSING_REL, JSON.stringify(err.response));
  });

  test("an autoUpdate on A's deployment is a 400 on deployment", async () => {
    const err = await rejects(
      pbB.collection('autoUpdates').create({
        interval: '5m',
        pattern: '',
        policy: 'latest',
        project: projectB.id,
        deployment: stackA.deployment.id,
        user: USERS.B.id,
      }),
      400,
    );
    assert.equal(fieldCode(err, 'deployment'), MISSING_REL, JSON.stringify(err.response));
  });

  test("moving B's deployment into A's project is a 400 on project", async () => {
    const err = await rejects(
      pbB.collection('deployments').update(deploymentB.id, { project: stackA.project.id }),
      400,
    );
    assert.equal(fieldCode(err, 'project'), MISSING_REL, JSON.stringify(err.response));
    const unchanged = await pbB.collection('deployments').getOne(deploymentB.id);
    assert.equal(unchanged.project, projectB.id);
  });

  test("creating records in A's name is refused", async () => {
    await rejects(
      pbB.collection('rollouts').create({
        manifest: manifest(),
        startDate: '',
        endDate: '',
        project: stackA.project.id,
        deployment: stackA.deployment.id,
        user: USERS.A.id,
      }),
      400,
    );
  });
});

describe('blueprint sharing through /pb/blueprints/shared/{id}', () => {
  const SECRET = 's3cr3t-registry-password';
  let blueprint;

  before(async () => {
    blueprint = await pbA.collection('blueprints').create({
      name: unique('share'),
      description: 'private with credentials',
      private: true,
      manifest: manifest({
        image: {
          password: SECRET,
          registry: 'ghcr.io',
          repository: 'acme/app',
          tag: '1.0.0',
          username: 'acme',
        },
        secrets: [{ name: 'API_KEY', value: 'secret-value' }],
      }),
      owner: USERS.A.id,
    });
  });

  after(async () => {
    await pbA.collection('blueprints').delete(blueprint.id);
  });

  test('before subscribing, B cannot see the private blueprint', async () => {
    await rejects(pbB.collection('blueprints').getOne(blueprint.id), 404);
  });

  test('GET /pb/blueprints/{id}: the link previews it, redacted; guests are refused', async () => {
    const preview = await customRoute('GET', `/pb/blueprints/${blueprint.id}`, pbB.authStore.token);
    assert.equal(preview.status, 200, JSON.stringify(preview.body));
    assertRecord(preview.body, 'blueprints');
    assert.equal(preview.body.manifest.spec.image.password, '');
    assert.equal(preview.body.manifest.spec.secrets[0].value, '');
    const guest = await customRoute('GET', `/pb/blueprints/${blueprint.id}`, null);
    assert.equal(guest.status, 401);
    const unknown = await customRoute('GET', '/pb/blueprints/zzzzzzzzzzzzzzz', pbB.authStore.token);
    assert.equal(unknown.status, 404);
  });

  test('the share route needs a logged-in caller', async () => {
    const reply = await customRoute('POST', `/pb/blueprints/shared/${blueprint.id}`, null);
    assert.ok([401, 403].includes(reply.status), `status ${reply.status}`);
    const missing = await customRoute('POST', '/pb/blueprints/shared/zzzzzzzzzzzzzzz', pbB.authStore.token);
    assert.equal(missing.status, 404);
  });

  test('B subscribes with fetch + Bearer (no body); C through /api/pb/...', async () => {
    const b = await customRoute('POST', `/pb/blueprints/shared/${blueprint.id}`, pbB.authStore.token);
    assert.equal(b.status, 200, JSON.stringify(b.body));
    assert.equal(b.body.id, blueprint.id);
    assertRecord(b.body, 'blueprints');
    assert.equal(b.body.manifest.spec.image.password, '', 'the share reply is redacted too');
    assert.ok(b.body.users.includes(USERS.B.id));
    const again = await customRoute('POST', `/pb/blueprints/shared/${blueprint.id}`, pbB.authStore.token);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.users, [USERS.B.id], 'subscribing twice is idempotent');

    const c = await customRoute('POST', `/api/pb/blueprints/shared/${blueprint.id}`, pbC.authStore.token);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.deepEqual(c.body.users, [USERS.B.id, USERS.C.id]);

    const owner = await customRoute('POST', `/pb/blueprints/shared/${blueprint.id}`, pbA.authStore.token);
    assert.equal(owner.status, 200);
    assert.deepEqual(owner.body.users, [USERS.B.id, USERS.C.id], 'the owner is not added');
  });

  test('the subscriber sees it, with the registry password blanked', async () => {
    const forB = await pbB.collection('blueprints').getOne(blueprint.id);
    assert.equal(forB.manifest.spec.image.password, '');
    assert.equal(forB.manifest.spec.image.username, 'acme');
    assert.equal(forB.manifest.spec.secrets[0].name, 'API_KEY');
    assert.equal(forB.manifest.spec.secrets[0].value, '', 'secret values blanked too');
    const listed = await pbB.collection('blueprints').getFullList({
      sort: '-created',
      expand: 'owner,users',
    });
    const item = listed.find((r) => r.id === blueprint.id);
    assert.ok(item, 'subscribed private blueprint is listed');
    assert.equal(item.manifest.spec.image.password, '');

    const forA = await pbA.collection('blueprints').getOne(blueprint.id);
    assert.equal(forA.manifest.spec.image.password, SECRET);

    const route = await customRoute('GET', `/pb/blueprints/${blueprint.id}`, pbB.authStore.token);
    assert.equal(route.status, 200, JSON.stringify(route.body));
    assertRecord(route.body, 'blueprints');
    assert.equal(route.body.manifest.spec.image.password, '');
    const routeApi = await customRoute('GET', `/api/pb/blueprints/${blueprint.id}`, pbA.authStore.token);
    assert.equal(routeApi.status, 200);
    assert.equal(routeApi.body.manifest.spec.image.password, SECRET);
  });

  test('the owner sees subscribers through expand users', async () => {
    const listed = await pbA.collection('blueprints').getFullList({
      sort: '-created',
      expand: 'owner,users',
    });
    const item = listed.find((r) => r.id === blueprint.id);
    assert.equal(item.expand.owner.id, USERS.A.id);
    assert.deepEqual(ids(item.expand.users), [USERS.B.id, USERS.C.id]);
    for (const user of item.expand.users) {
      assertRecord(user, 'users');
      assert.ok(!('email' in user), 'hidden e-mail must not be exported to others');
      assert.equal(typeof user.name, 'string');
    }
    const visible = await pbA.collection('users').getFullList();
    assert.deepEqual(new Set(ids(visible)), new Set([USERS.A.id, USERS.B.id, USERS.C.id]));
  });

  test('the owner edits the shared blueprint with the card body (expand included)', async () => {
    const listed = await pbA.collection('blueprints').getFullList({
      sort: '-created',
      expand: 'owner,users',
    });
    const item = listed.find((r) => r.id === blueprint.id);
    const updated = await pbA.collection('blueprints').update(blueprint.id, {
      ...item,
      name: item.name,
      description: 'edited by the owner',
      private: true,
      manifest: item.manifest,
    });
    assert.equal(updated.description, 'edited by the owner');
    assert.deepEqual(updated.users, [USERS.B.id, USERS.C.id]);
    assert.equal(updated.manifest.spec.image.password, SECRET);
    // The owner may not add users on the subscribers' behalf.
    await rejects(pbA.collection('blueprints').update(blueprint.id, { users: [USERS.B.id, USERS.C.id, 'aaaaaaaaaaaaaaa'] }), 400);
  });

  test('the subscriber cannot rename (403) or delete it', async () => {
    const forB = await pbB.collection('blueprints').getOne(blueprint.id);
    await rejects(pbB.collection('blueprints').update(blueprint.id, { ...forB, name: 'hijacked' }), 403);
    // Visible but not owned: 403 (the server's choice) or 404 (PocketBase's rule outcome).
    const err = await rejects(pbB.collection('blueprints').delete(blueprint.id));
    assert.ok([403, 404].includes(err.status), `status ${err.status}`);
    const forA = await pbA.collection('blueprints').getOne(blueprint.id);
    assert.equal(forA.name, blueprint.name);
    assert.equal(forA.manifest.spec.image.password, SECRET, 'a subscriber write never blanks it');
  });

  test('the subscriber unsubscribes with {users: users.filter(u => u != me)}', async () => {
    const forB = await pbB.collection('blueprints').getOne(blueprint.id);
    const left = await pbB
      .collection('blueprints')
      .update(blueprint.id, { users: forB.users.filter((u) => u != USERS.B.id) });
    assert.deepEqual(left.users, [USERS.C.id]);
    await rejects(pbB.collection('blueprints').getOne(blueprint.id), 404);
    const listed = await pbB.collection('blueprints').getFullList({ sort: '-created' });
    assert.ok(!ids(listed).includes(blueprint.id));
    const forA = await pbA.collection('blueprints').getOne(blueprint.id);
    assert.deepEqual(forA.users, [USERS.C.id]);
    assert.equal(forA.manifest.spec.image.password, SECRET);
  });
});

describe('concurrent share-link clicks', () => {
  test('B and C subscribing at the same moment both end up in users', async () => {
    const bp = await pbA.collection('blueprints').create({
      name: unique('race'),
      description: '',
      private: true,
      manifest: manifest(),
      owner: USERS.A.id,
    });
    try {
      const replies = await Promise.all(
        [pbB, pbC, pbB, pbC].map((pb) =>
          customRoute('POST', `/pb/blueprints/shared/${bp.id}`, pb.authStore.token),
        ),
      );
      assert.deepEqual(
        replies.map((r) => r.status),
        [200, 200, 200, 200],
        JSON.stringify(replies.map((r) => r.body)),
      );
      const stored = await pbA.collection('blueprints').getOne(bp.id);
      assert.deepEqual([...stored.users].sort(), [USERS.B.id, USERS.C.id].sort());
    } finally {
      await pbA.collection('blueprints').delete(bp.id);
    }
  });
});

describe("deploying from someone else's public blueprint", () => {
  test('B deploys A\'s public blueprint; privacy and deletion are reflected', async () => {
    const bp = await pbA.collection('blueprints').create({
      name: unique('market'),
      description: 'public',
      private: false,
      manifest: manifest({
        image: { ...manifest().spec.image, username: 'bot', password: 'market-secret' },
      }),
      owner: USERS.A.id,
    });
    const project = await pbB.collection('projects').create({ name: unique('mkt'), user: USERS.B.id });
    try {
      // NewDeployment.svelte: deployment with the blueprint, then the first rollout with its manifest.
      const forB = await pbB.collection('blueprints').getOne(bp.id);
      assert.equal(forB.manifest.spec.image.password, '', 'password blanked for non-owners');
      const deployment = await pbB
        .collection('deployments')
        .create({ name: 'from-bp', blueprint: bp.id, user: USERS.B.id, project: project.id });
      await pbB.collection('rollouts').create({
        manifest: forB.manifest,
        startDate: '',
        endDate: '',
        project: project.id,
        deployment: deployment.id,
        user: USERS.B.id,
      });
      let listed = await pbB
        .collection('deployments')
        .getFullList({ sort: '-created', expand: 'project,blueprint' });
      let item = listed.find((d) => d.id === deployment.id);
      assert.equal(item.expand.blueprint.id, bp.id);
      assert.equal(item.expand.blueprint.manifest.spec.image.password, '');

      // Made private: the expand must obey the blueprint's view rule.
      await pbA.collection('blueprints').update(bp.id, { private: true });
      listed = await pbB
        .collection('deployments')
        .getFullList({ sort: '-created', expand: 'project,blueprint' });
      item = listed.find((d) => d.id === deployment.id);
      assert.equal(item.expand.project.id, project.id);
      assert.ok(!('blueprint' in item.expand), 'a private blueprint must not be expanded for B');

      // Deleted: deployments.blueprint is optional, so it is cleared (reference §1.8).
      await pbA.collection('blueprints').delete(bp.id);
      const after = await pbB.collection('deployments').getOne(deployment.id);
      // The settings page still saves the whole record afterwards.
      const saved = await pbB
        .collection('deployments')
        .update(deployment.id, { ...after, name: 'still-works' });
      assert.equal(saved.name, 'still-works');
      const again = await pbB.collection('deployments').getFullList({ expand: 'blueprint' });
      assert.ok(!('expand' in again.find((d) => d.id === deployment.id)));
      assert.equal(after.blueprint, '', 'deleting a blueprint clears deployments.blueprint');
    } finally {
      await pbB.collection('projects').delete(project.id);
      await pbA.collection('blueprints').delete(bp.id).catch(() => {});
    }
  });
});

describe('deleting a project cascades', () => {
  test('its deployments, rollouts and autoUpdates are gone', async () => {
    const stack = await makeStack(pbA, 'cascade');
    const second = await pbA.collection('rollouts').create({
      manifest: manifest(),
      startDate: '',
      endDate: '',
      project: stack.project.id,
      deployment: stack.deployment.id,
      user: USERS.A.id,
    });
    await pbA.collection('projects').delete(stack.project.id);
    await rejects(pbA.collection('projects').getOne(stack.project.id), 404);
    for (const [collection, id] of [
      ['deployments', stack.deployment.id],
      ['rollouts', stack.rollout.id],
      ['rollouts', second.id],
      ['autoUpdates', stack.autoUpdate.id],
    ]) {
      await rejects(pbA.collection(collection).getOne(id), 404);
      const listed = await pbA.collection(collection).getFullList();
      assert.ok(!ids(listed).includes(id), `${collection} ${id} survived the cascade`);
    }
  });

  test('deleting a deployment removes its rollouts and autoUpdates', async () => {
    const stack = await makeStack(pbA, 'depdel');
    await pbA.collection('deployments').delete(stack.deployment.id);
    await rejects(pbA.collection('rollouts').getOne(stack.rollout.id), 404);
    await rejects(pbA.collection('autoUpdates').getOne(stack.autoUpdate.id), 404);
    const project = await pbA.collection('projects').getOne(stack.project.id);
    assert.equal(project.id, stack.project.id);
    await pbA.collection('projects').delete(stack.project.id);
  });
});

describe('users delete (last: removes user C)', () => {
  test('C deletes their own account; the token stops working', async () => {
    const bp = await pbA.collection('blueprints').create({
      name: unique('cbp'),
      description: '',
      private: true,
      manifest: manifest(),
      owner: USERS.A.id,
    });
    const joined = await customRoute('POST', `/pb/blueprints/shared/${bp.id}`, pbC.authStore.token);
    assert.equal(joined.status, 200);
    await rejects(pbB.collection('users').delete(USERS.C.id), 404);

    const oldToken = pbC.authStore.token;
    await pbC.collection('users').delete(USERS.C.id);
    const stale = await customRoute('POST', '/api/collections/users/auth-refresh', oldToken);
    assert.equal(stale.status, 401, 'the deleted user\'s token is refused');
    // The SDK clears its store when the deleted record is the authenticated one.
    assert.equal(pbC.authStore.isValid, false);
    await rejects(pbA.collection('users').getOne(USERS.C.id), 404);
    const relogin = new PocketBase(BASE_URL);
    await rejects(relogin.collection('users').authWithPassword(USERS.C.email, USERS.C.password), 400);
    const after = await pbA.collection('blueprints').getOne(bp.id);
    assert.deepEqual(after.users, [], 'a deleted user leaves the blueprints they joined');
    await pbA.collection('blueprints').delete(bp.id);
  });
});

describe('rollout state machine (reference §3.1)', () => {
  test('rollout create sets startDate to now (§3.1 step 6)', async () => {
    const stack = await makeStack(pbA, 'todo-start');
    try {
      assert.match(stack.rollout.startDate, DATE, 'startDate is set to now on create');
    } finally {
      await pbA.collection('projects').delete(stack.project.id);
    }
  });

  test('a new rollout ends the running one of the deployment (§3.1 step 4)', async () => {
    const stack = await makeStack(pbA, 'todo-end');
    try {
      const next = await pbA.collection('rollouts').create({
        manifest: manifest(),
        startDate: '',
        endDate: '',
        project: stack.project.id,
        deployment: stack.deployment.id,
        user: USERS.A.id,
      });
      assert.equal(next.endDate, '');
      const previous = await pbA.collection('rollouts').getOne(stack.rollout.id);
      assert.match(previous.endDate, DATE, 'the previous running rollout is ended');
      const running = await pbA.collection('rollouts').getFullList({
        filter: pbA.filter('deployment = {:d} && endDate = ""', { d: stack.deployment.id }),
      });
      assert.deepEqual(ids(running), [next.id], 'exactly one running rollout');
    } finally {
      await pbA.collection('projects').delete(stack.project.id);
    }
  });

  test('endDate on rollout create is a 400 (§3.1 step 3)', async () => {
    const stack = await makeStack(pbA, 'todo-enddate');
    try {
      const err = await rejects(
        pbA.collection('rollouts').create({
          manifest: manifest(),
          startDate: '',
          endDate: new Date().toISOString(),
          project: stack.project.id,
          deployment: stack.deployment.id,
          user: USERS.A.id,
        }),
        400,
      );
      assert.match(err.response.message, /endDate/);
    } finally {
      await pbA.collection('projects').delete(stack.project.id);
    }
  });

});

describe('avatar files (§9.4 files)', () => {
  test('multipart upload through the SDK, served at /api/files/{collectionId}/{id}/{file}', async () => {
    const project = await pbA
      .collection('projects')
      .create({ name: unique('avatar'), user: USERS.A.id });
    try {
      const png = Buffer.from(
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
        'base64',
      );
      // What the settings pages send: a FormData body with the file and other fields.
      const updated = await pbA.collection('projects').update(project.id, {
        avatar: new File([png], 'logo.png', { type: 'image/png' }),
        description: 'with logo',
      });
      assert.match(updated.avatar, /^logo_[A-Za-z0-9]{10}\.png$/);
      assert.equal(updated.description, 'with logo');
      const token = await pbA.files.getToken();
      const reply = await fetch(pbA.files.getURL(updated, updated.avatar, { token }));
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get('content-type'), 'image/png');
      assert.deepEqual(Buffer.from(await reply.arrayBuffer()), png);
      // Only those who may see the record get its file.
      const anonymous = await fetch(pbA.files.getURL(updated, updated.avatar));
      assert.equal(anonymous.status, 404);
      const tokenB = await pbB.files.getToken();
      const other = await fetch(pbA.files.getURL(updated, updated.avatar, { token: tokenB }));
      assert.equal(other.status, 404);
      // Removing the file: `avatar: null` as a JSON body.
      const cleared = await pbA.collection('projects').update(project.id, { avatar: null });
      assert.equal(cleared.avatar, '');
      const gone = await fetch(pbA.files.getURL(updated, updated.avatar, { token }));
      assert.equal(gone.status, 404);
    } finally {
      await pbA.collection('projects').delete(project.id);
    }
  });

  test('a user avatar must be an image (users.avatar mimeTypes)', async () => {
    const err = await rejects(
      pbA.collection('users').update(USERS.A.id, {
        avatar: new File([Buffer.from('hello')], 'notes.txt', { type: 'text/plain' }),
      }),
      400,
    );
    assert.equal(err.response.data.avatar.code, 'validation_invalid_mime_type');
  });
});
