import type { Principal } from '../../auth/principal.js';
import { builder } from '../builder.js';

const PrincipalKindEnum = builder.enumType('PrincipalKind', {
  description: 'How the caller proved who it is.',
  values: {
    ANONYMOUS: { value: 'anonymous', description: 'AUTH_MODE=off: no credential; everything is allowed.' },
    API_KEY: { value: 'api-key', description: 'An API key (`taskwire keys create`).' },
    JWT: { value: 'jwt', description: 'A JWT of a trusted issuer.' },
    READ_TOKEN: { value: 'read-token', description: 'A read token (enqueueTask’s readToken, createReadToken): its tasks only.' },
  } as const,
});

const ViewerRef = builder.objectRef<Principal>('Viewer').implement({
  description: 'Who is asking: the principal the credential stands for (what a dashboard shows as signed in).',
  fields: (t) => ({
    id: t.exposeString('id', { description: 'The API key’s id, the JWT’s subject, the read token’s issuer; `anonymous` while auth is off. Never a secret.' }),
    kind: t.field({ type: PrincipalKindEnum, resolve: (p) => p.kind }),
    name: t.string({
      nullable: true,
      description: 'The API key’s name (`taskwire keys create --name`), for people to read; null for other kinds and for a key made without one.',
      resolve: (p) => p.name ?? null,
    }),
    tenant: t.exposeString('tenant', { description: 'The tenant whose tasks it sees and creates.' }),
    scopes: t.exposeStringList('scopes', { description: 'What it may do, e.g. tasks:read, tasks:enqueue:reports.*, admin.' }),
    taskIds: t.field({
      type: ['ID'],
      nullable: true,
      description: 'A read token’s tasks (nothing else is visible to it); null for every other kind.',
      resolve: (p) => (p.taskIds ? [...p.taskIds] : null),
    }),
    expiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      description: 'When the credential stops working (open subscriptions end then); null: never.',
      resolve: (p) => p.expiresAt ?? null,
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.field({
    type: ViewerRef,
    description: 'Who is asking (any credential, a read token included).',
    resolve: (_root, _args, ctx) => ctx.principal,
  }),
);
