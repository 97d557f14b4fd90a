// The same first steps through a client that openapi-typescript-codegen, a generator that
// reads only OpenAPI 2.0 and 3.0, makes from docs/openapi-3.0.json. scripts/check-clients
// generates it and type-checks this file with `tsc --strict`.
import { AuthService, MeService, OpenAPI } from "gatehouse-client-3.0";
import type { UserView } from "gatehouse-client-3.0";

export async function firstSteps(
  baseUrl: string,
  email: string,
  password: string,
  mailedToken: (email: string) => Promise<string>,
): Promise<{ kid: string; avatar: string | null }> {
  OpenAPI.BASE = baseUrl;
  const preferences = { theme: "dark", editor: { tabs: 4, font: { size: 14 } } };
  const registered: UserView = await AuthService.register({
    email,
    password,
    name: "Ada Lovelace",
    preferences,
  });
  await AuthService.verifyEmail({ token: await mailedToken(registered.email) });
  const pair = await AuthService.login({ email, password });
  OpenAPI.TOKEN = pair.access_token;
  const me = await MeService.getMe();
  // `nullable: true` of the 3.0 document reads as `| null`.
  const avatar: string | null = me.avatar_url ?? null;
  await MeService.updateMe({ preferences: { theme: null, editor: { tabs: 2 } } });
  const jwks = await AuthService.jwks();
  const kid: string | undefined = jwks.keys[0]?.kid;
  if (!kid) throw new Error("jwks");
  const events = await MeService.auditEvents(1, 1, "auth.login");
  const details: Record<string, unknown> | undefined = events.items[0]?.details;
  if (!details) throw new Error("audit");
  return { kid, avatar };
}
