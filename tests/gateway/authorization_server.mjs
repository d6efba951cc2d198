// A real OAuth 2.1 authorization server for the gateway's tests: the maintained
// `oidc-provider` package on loopback. Clients get JWT access tokens (RFC 9068) for
// a resource (RFC 8707) with the client credentials grant; introspection and
// revocation are on; one client gets opaque tokens. Usage: node authorization_server.mjs PORT
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const ttl = { 'short-lived': 1 };

const provider = new Provider(issuer, {
  clients: [
    // registered as the agent "desk" in tether.yaml; acts for the user it maps to
    { client_id: 'desk-assistant', client_secret: 'desk-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    // names its agent in a claim
    { client_id: 'claims-agent', client_secret: 'claims-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    // gets opaque access tokens, which only introspection can check (and so revoke)
    { client_id: 'opaque-client', client_secret: 'opaque-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    { client_id: 'short-lived', client_secret: 'short-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
    // the gateway itself, to introspect tokens
    { client_id: 'tether-gateway', client_secret: 'gateway-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [] },
  ],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => ({
        scope: 'tools',
        audience: resource,
        accessTokenTTL: ttl[client.clientId] ?? 600,
        accessTokenFormat: client.clientId === 'opaque-client' ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => (token.clientId === 'claims-agent' ? { tether_agent: 'desk' } : undefined),
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
