// A first client of Gatehouse, written only against the types that openapi-typescript
// generates from docs/openapi.json. scripts/check-clients generates them and type-checks
// this file with `tsc --strict`: a change of the document that breaks such a program fails.
import createClient from "openapi-fetch";
import type { paths } from "gatehouse-api";

export async function firstSteps(
  baseUrl: string,
  email: string,
  password: string,
  mailedToken: (email: string) => Promise<string>,
): Promise<{ kid: string; sessionId: unknown }> {
  const api = createClient<paths>({ baseUrl });
  const preferences = { theme: "dark", editor: { tabs: 4, keys: ["vim", null], font: { size: 14 } } };
  const registered = await api.POST("/api/v1/auth/register", {
    body: { email, password, name: "Ada Lovelace", preferences },
  });
  if (!registered.data) throw new Error(`register: ${registered.error?.code}`);
  const token = await mailedToken(registered.data.email);
  const verified = await api.POST("/api/v1/auth/verify-email", { body: { token } });
  if (verified.data?.status !== "active") throw new Error("verify-email");
  const login = await api.POST("/api/v1/auth/login", { body: { email, password } });
  if (!login.data) throw new Error(`login: ${login.error?.code}`);
  const headers = { Authorization: `Bearer ${login.data.access_token}` };
  const me = await api.GET("/api/v1/users/me", { headers });
  if (me.data?.id !== registered.data.id) throw new Error("me");
  const patched = await api.PATCH("/api/v1/users/me", {
    headers,
    body: { preferences: { theme: null, editor: { tabs: 2, font: { family: "mono" } } } },
  });
  const editor = patched.data?.preferences["editor"];
  if (typeof editor !== "object" || editor === null) throw new Error("preferences");
  const jwks = await api.GET("/.well-known/jwks.json");
  const kid: string | undefined = jwks.data?.keys[0]?.kid;
  if (!kid) throw new Error("jwks");
  const events = await api.GET("/api/v1/users/me/audit-events", {
    headers,
    params: { query: { action: "auth.login", per_page: 1 } },
  });
  const sessionId: unknown = events.data?.items[0]?.details["session_id"];
  return { kid, sessionId };
}
