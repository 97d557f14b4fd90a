// The browser half of scripts/browser-passkeys, which starts it; not meant to run alone.
//
//   node e2e/browser/passkeys.mjs STATE_DIR
//   (env: ADMIN_EMAIL, ADMIN_PASSWORD)
//
// 1. Serves the test page (page.html) at / on 127.0.0.1:<a free port> ("localhost" to the
//    browser) and proxies every /api/ request to the service, so the page and the API
//    share one origin: no CORS, and the origin in the browser's clientDataJSON is the
//    page's. It writes that port to STATE_DIR/page-port, and then waits for the script to
//    write the service's address (host:port, once it answers ready) to
//    STATE_DIR/service-addr: the service is started after the port is known, since its
//    PUBLIC_URL (hence its WebAuthn RP ID and origin) names it.
// 2. Launches Debian's Chromium headless, gives the page a CTAP2 virtual authenticator
//    with resident keys and user verification (Chrome DevTools Protocol, WebAuthn domain),
//    and, through the page's helpers: signs in with the password, registers a passkey,
//    checks the authenticator holds it, signs in with it and uses the token it gives.
// Prints each step; on a failure prints what the browser sent, what the service answered,
// the requests that went through the proxy and the page's console, and exits 1.

import fs from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { chromium } from "playwright-core";

const CHROMIUM = "/usr/bin/chromium";
const WAIT_FOR_SERVICE_MS = 120_000;
const WATCHDOG_MS = 90_000;
const PASSKEY_NAME = "Browser key";

const stateDir = process.argv[2];
const email = process.env.ADMIN_EMAIL;
const password = process.env.ADMIN_PASSWORD;
if (!stateDir || !email || !password) {
  console.error("usage: ADMIN_EMAIL=… ADMIN_PASSWORD=… node passkeys.mjs STATE_DIR (run by scripts/browser-passkeys)");
  process.exit(2);
}

/** A failed check, with what was sent and what came back. */
class CheckFailed extends Error {
  constructor(message, details = {}) {
    super(message);
    this.details = details;
  }
}

const proxied = []; // "METHOD /path -> status", in order
const pageConsole = []; // the page's console messages and uncaught errors
let stepNumber = 0;

function step(text) {
  stepNumber += 1;
  console.log(`  ${String(stepNumber).padStart(2)}. ${text}`);
}

function detail(text) {
  console.log(`      ${text}`);
}

function shorten(value, length = 16) {
  return value.length > length ? `${value.slice(0, length)}…` : value;
}

/** Fails unless the answer has the expected status; the answer goes along. */
function expectStatus(what, answer, expected, sent) {
  if (answer.status !== expected) {
    throw new CheckFailed(`${what}: expected ${expected}, got ${answer.status}`, { sent, answer });
  }
}

// --- the page server and API proxy ----------------------------------------------------

const pageHtml = await fs.readFile(new URL("./page.html", import.meta.url));
let upstream = null; // {host, port} of the service, once it is ready

const server = http.createServer((request, response) => {
  const { method, url } = request;
  if ((method === "GET" || method === "HEAD") && url === "/") {
    response.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    response.end(method === "HEAD" ? undefined : pageHtml);
    return;
  }
  if (url === "/favicon.ico") {
    response.writeHead(204); // nothing to show, and no 404 in the page's console
    response.end();
    return;
  }
  if (!url.startsWith("/api/") || upstream === null) {
    response.writeHead(404, { "content-type": "text/plain" });
    response.end("not here\n");
    return;
  }
  // Host, Origin and the rest go on as the browser sent them, as a reverse proxy would.
  const forward = http.request(
    { host: upstream.host, port: upstream.port, method, path: url, headers: request.headers },
    (answer) => {
      proxied.push(`${method} ${url} -> ${answer.statusCode}`);
      response.writeHead(answer.statusCode, answer.headers);
      answer.pipe(response);
    },
  );
  forward.on("error", (error) => {
    proxied.push(`${method} ${url} -> proxy error: ${error.message}`);
    if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain" });
    response.end(`proxy error: ${error.message}\n`);
  });
  request.pipe(forward);
});

await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(0, "127.0.0.1", resolve);
});
const pagePort = server.address().port;
const origin = `http://localhost:${pagePort}`;
// Written whole and then renamed, so that the script never reads half a number.
await fs.writeFile(path.join(stateDir, "page-port.tmp"), `${pagePort}\n`);
await fs.rename(path.join(stateDir, "page-port.tmp"), path.join(stateDir, "page-port"));

async function waitForService() {
  const file = path.join(stateDir, "service-addr");
  const deadline = Date.now() + WAIT_FOR_SERVICE_MS;
  while (Date.now() < deadline) {
    const text = await fs.readFile(file, "utf8").catch(() => "");
    const match = /^(.+):(\d+)\s*$/.exec(text);
    if (match) return { host: match[1], port: Number(match[2]) };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new CheckFailed(`the service's address did not appear in ${file} within ${WAIT_FOR_SERVICE_MS / 1000}s`);
}

// --- the checks -------------------------------------------------------------------------

async function run(page, cdp, authenticatorId, browserVersion) {
  const api = (method, apiPath, body, token) =>
    page.evaluate(([m, p, b, t]) => window.gatehouse.api(m, p, b, t), [method, apiPath, body, token]);

  step(`Chromium ${browserVersion}: page ${origin}/, virtual authenticator ${authenticatorId} (ctap2, internal, resident keys, user verification)`);
  const support = await page.evaluate(() => window.gatehouse.support());
  const missing = Object.entries(support)
    .filter(([name, value]) => name !== "userAgent" && value !== true)
    .map(([name]) => name);
  if (missing.length > 0) {
    throw new CheckFailed(
      `this Chromium (${browserVersion}) lacks what the check needs: ${missing.join(", ")} ` +
        "(PublicKeyCredential.parseCreationOptionsFromJSON and parseRequestOptionsFromJSON came in Chrome 129; " +
        "the page must be a secure context, which http://localhost is)",
      { answer: support },
    );
  }
  detail("WebAuthn Level 3 JSON helpers present, secure context");

  step(`POST /api/v1/auth/login as ${email}`);
  const login = await api("POST", "/auth/login", { email, password });
  expectStatus("password login", login, 200, { email, password: "(hidden)" });
  const passwordToken = login.body.access_token;
  detail("200, token pair");

  step("POST /api/v1/users/me/passkeys/options (registration options)");
  const creation = await api("POST", "/users/me/passkeys/options", { current_password: password }, passwordToken);
  expectStatus("registration options", creation, 200, { current_password: "(hidden)" });
  const creationOptions = creation.body.publicKey;
  const selection = creationOptions.authenticatorSelection ?? {};
  detail(
    `200, challenge ${creation.body.challenge_id}; rp.id ${creationOptions.rp?.id ?? "(absent)"}, ` +
      `residentKey ${selection.residentKey}, userVerification ${selection.userVerification}, ` +
      `excludeCredentials ${(creationOptions.excludeCredentials ?? []).length}`,
  );

  step("navigator.credentials.create() in the page");
  let attestation;
  try {
    attestation = await page.evaluate((options) => window.gatehouse.create(options), creationOptions);
  } catch (error) {
    throw new CheckFailed(`navigator.credentials.create() failed: ${error.message}`, { sent: creationOptions });
  }
  detail(
    `credential ${shorten(attestation.id)} (${attestation.type}, attachment ${attestation.authenticatorAttachment}, ` +
      `transports ${JSON.stringify(attestation.response?.transports ?? [])})`,
  );

  step(`POST /api/v1/users/me/passkeys (name "${PASSKEY_NAME}")`);
  const registration = { challenge_id: creation.body.challenge_id, name: PASSKEY_NAME, credential: attestation };
  const registered = await api("POST", "/users/me/passkeys", registration, passwordToken);
  expectStatus("passkey registration", registered, 201, registration);
  if (registered.body.name !== PASSKEY_NAME) {
    throw new CheckFailed(`the registered passkey is named ${JSON.stringify(registered.body.name)}`, {
      sent: registration,
      answer: registered,
    });
  }
  detail(`201, passkey ${registered.body.id}, created_at ${registered.body.created_at}`);

  step("WebAuthn.getCredentials (DevTools Protocol): the authenticator holds it as a resident credential");
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  const held = credentials.map(({ privateKey, ...rest }) => rest); // no need to print keys
  const [only] = credentials;
  const sameId = only && Buffer.from(only.credentialId, "base64").equals(Buffer.from(attestation.rawId, "base64url"));
  const sameUser =
    only && Buffer.from(only.userHandle ?? "", "base64").equals(Buffer.from(creationOptions.user.id, "base64url"));
  if (credentials.length !== 1 || !only.isResidentCredential || only.rpId !== "localhost" || !sameId || !sameUser) {
    throw new CheckFailed(
      "the authenticator should hold exactly one resident credential for rp localhost, " +
        "with the registered credential id and the options' user handle",
      { answer: held },
    );
  }
  detail(`1 credential: resident, rpId ${only.rpId}, signCount ${only.signCount}, user handle as in the options`);

  step("POST /api/v1/auth/passkey/options (sign-in options)");
  const request = await api("POST", "/auth/passkey/options", {});
  expectStatus("sign-in options", request, 200, {});
  const requestOptions = request.body.publicKey;
  detail(
    `200, challenge ${request.body.challenge_id}; rpId ${requestOptions.rpId ?? "(absent)"}, ` +
      `userVerification ${requestOptions.userVerification}, allowCredentials ${(requestOptions.allowCredentials ?? []).length}`,
  );

  step("navigator.credentials.get() in the page");
  let assertion;
  try {
    assertion = await page.evaluate((options) => window.gatehouse.get(options), requestOptions);
  } catch (error) {
    throw new CheckFailed(`navigator.credentials.get() failed: ${error.message}`, { sent: requestOptions });
  }
  if (assertion.id !== attestation.id) {
    throw new CheckFailed(`the assertion is of credential ${assertion.id}, not the registered ${attestation.id}`, {
      answer: assertion,
    });
  }
  detail(`assertion of credential ${shorten(assertion.id)}, user handle ${assertion.response?.userHandle ? "present" : "absent"}`);

  step("POST /api/v1/auth/passkey/login");
  const signIn = { challenge_id: request.body.challenge_id, credential: assertion };
  const signedIn = await api("POST", "/auth/passkey/login", signIn);
  expectStatus("passkey sign-in", signedIn, 200, signIn);
  const accessToken = signedIn.body.access_token;
  if (typeof accessToken !== "string" || typeof signedIn.body.refresh_token !== "string") {
    throw new CheckFailed("the passkey sign-in gave no token pair", { sent: signIn, answer: signedIn });
  }
  const claims = JSON.parse(Buffer.from(accessToken.split(".")[1] ?? "", "base64url").toString("utf8"));
  if (!isDeepStrictEqual(claims.amr, ["hwk"])) {
    throw new CheckFailed(`the access token's amr is ${JSON.stringify(claims.amr)}, not ["hwk"]`, {
      answer: { ...signedIn, claims },
    });
  }
  detail(`200, token pair; access token amr ${JSON.stringify(claims.amr)}, sub ${claims.sub}`);

  step("GET /api/v1/users/me with the passkey's access token");
  const me = await api("GET", "/users/me", undefined, accessToken);
  expectStatus("GET /users/me", me, 200);
  if (me.body.email !== email) {
    throw new CheckFailed(`GET /users/me answered the user ${JSON.stringify(me.body.email)}, not ${email}`, {
      answer: me,
    });
  }
  detail(`200, ${me.body.email} (${me.body.role})`);
}

function report(error) {
  console.error(`\nbrowser-passkeys: FAILED at step ${stepNumber}: ${error.message}`);
  const { sent, answer } = error.details ?? {};
  if (sent !== undefined) console.error(`\nwhat the browser sent:\n${JSON.stringify(sent, null, 2)}`);
  if (answer !== undefined) console.error(`\nwhat came back:\n${JSON.stringify(answer, null, 2)}`);
  if (!(error instanceof CheckFailed) && error.stack) console.error(`\n${error.stack}`);
  if (proxied.length > 0) console.error(`\nrequests through the proxy:\n  ${proxied.join("\n  ")}`);
  if (pageConsole.length > 0) console.error(`\nthe page's console:\n  ${pageConsole.join("\n  ")}`);
}

const watchdog = setTimeout(() => {
  report(new Error(`no result within ${WATCHDOG_MS / 1000}s`));
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

let browser;
let failed = false;
try {
  upstream = await waitForService();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (message) => pageConsole.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => pageConsole.push(`uncaught: ${error.message}`));
  const loaded = await page.goto(`${origin}/`);
  if (!loaded || loaded.status() !== 200) {
    throw new CheckFailed(`the test page did not load: ${loaded ? loaded.status() : "no answer"}`);
  }
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await run(page, cdp, authenticatorId, browser.version());
} catch (error) {
  failed = true;
  report(error);
} finally {
  clearTimeout(watchdog);
  await browser?.close().catch(() => {});
  server.close();
}
process.exit(failed ? 1 : 0);
