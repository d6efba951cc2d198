// A real OpenID Connect provider (panva/node-oidc-provider) on loopback, for tether's
// single sign-on tests. Started by tests/web/oidc.py:
//   node provider.mjs   with TETHER_OIDC_PORT, TETHER_OIDC_CLIENTS (JSON list of client
//   metadata) and TETHER_OIDC_GROUPS (JSON: login -> groups) in the environment.
// Its own login pages are the provider's development interactions: any password for a
// login; the login is the account, its groups come from TETHER_OIDC_GROUPS.
import Provider from 'oidc-provider';

const port = Number(process.env.TETHER_OIDC_PORT);
const clients = JSON.parse(process.env.TETHER_OIDC_CLIENTS);
const groups = JSON.parse(process.env.TETHER_OIDC_GROUPS || '{}');
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients,
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email'],
    groups: ['groups'],
  },
  // The ID token carries the claims of the scopes asked for (tether maps roles from it).
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['tether-test-provider-cookie-key'] },
  ttl: { IdToken: 300, AccessToken: 300, AuthorizationCode: 60, Session: 600, Grant: 600, Interaction: 600 },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: id,
          email: `${id}@acme.example`,
          groups: groups[id] || [],
        };
      },
    };
  },
});
provider.on('server_error', (ctx, error) => console.error('server_error', error));
provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
